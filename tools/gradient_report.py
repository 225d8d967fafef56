"""Max relative error, backprop vs central differences in float64, for every layer and model.

    python tools/gradient_report.py
"""
import numpy as np
from nnscratch.gradient import gradient_check, layer_gradient_check
from nnscratch.layers import *
from nnscratch.models import TwoLayerNet, MultiLayerNet, SimpleConvNet, DeepConvNet
rng = np.random.default_rng(0)
def layer_err(layer, x, t=None):
    return max(layer_gradient_check(layer, x, t, seed=rng).values())
x2 = rng.standard_normal((4, 6)); x4 = rng.standard_normal((3, 2, 7, 7)) 
res = {}
res['Affine'] = layer_err(Affine(rng.standard_normal((6, 5)), rng.standard_normal(5)), x2)
res['Relu'] = layer_err(Relu(), x2)
res['Sigmoid'] = layer_err(Sigmoid(), x2)
res['Tanh'] = layer_err(Tanh(), x2)
res['SoftmaxWithLoss'] = layer_err(SoftmaxWithLoss(), x2, rng.integers(0, 6, 4))
d = Dropout(0.3, seed=0); d.forward(x2); d.fixed_mask = True; res['Dropout'] = layer_err(d, x2)
res['BatchNorm 2-D'] = layer_err(BatchNormalization(rng.standard_normal(6), rng.standard_normal(6)), x2)
res['BatchNorm 4-D'] = layer_err(BatchNormalization(rng.standard_normal(2), rng.standard_normal(2)), x4)
for s, p in [(1, 0), (1, 1), (2, 1), (2, 2)]:
    res[f'Convolution stride {s} pad {p}'] = layer_err(Convolution(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), stride=s, pad=p), x4)
xp_ = rng.permutation(3*2*8*8).reshape(3,2,8,8) / 10.0
res['MaxPooling 2x2'] = layer_err(Pooling(2, 2, 2), xp_)
res['MaxPooling 3x3 s2 p1'] = layer_err(Pooling(3, 3, 2, pad=1), xp_)
res['AveragePooling 2x2'] = layer_err(Pooling(2, 2, 2, mode='avg'), xp_)
for k, v in res.items(): print(f'{k:32s} {v:.1e}')
x, t = rng.standard_normal((6, 12)), rng.integers(0, 4, 6)
print('TwoLayerNet', max(gradient_check(TwoLayerNet(12, 8, 4, weight_init_std=0.5, seed=1, dtype='float64'), x, t).values()))
net = MultiLayerNet(12, [10, 9, 8], 4, weight_init_std=0.3, weight_decay_lambda=0.1, use_dropout=True, dropout_ration=0.3, use_batchnorm=True, seed=2, dtype='float64')
net.loss(x, t, train=True)  # draw the dropout masks, then freeze them
for l in net.layers.values():
    if isinstance(l, Dropout): l.fixed_mask = True
print('MultiLayerNet BN+dropout+WD', max(gradient_check(net, x, t).values()))

xs, ts = rng.standard_normal((3, 1, 10, 10)), rng.integers(0, 4, 3)
scn = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
                    hidden_size=6, output_size=4, weight_init_std=0.3, seed=0, dtype="float64")
print("SimpleConvNet (small)", max(gradient_check(scn, xs, ts).values()))
xd, td = rng.standard_normal((2, 1, 12, 12)), rng.integers(0, 3, 2)
params = [{"filter_num": n, "filter_size": 3, "pad": p, "stride": 1} for n, p in [(2, 1), (2, 1), (3, 1), (3, 2), (2, 1), (2, 1)]]
dcn = DeepConvNet(input_dim=(1, 12, 12), conv_params=params, hidden_size=5, output_size=3, seed=0, dtype="float64")
for k, p in dcn.params.items():
    if k.endswith(".b"):
        p[...] = rng.uniform(0.05, 0.2, p.shape)  # off ReLU's kink at padded borders
dcn.loss(xd, td, train=True)
for l in dcn.layers.values():
    if isinstance(l, Dropout):
        l.fixed_mask = True
print("DeepConvNet (small)", max(gradient_check(dcn, xd, td).values()))
