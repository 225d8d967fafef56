"""`nnscratch serve`: draw a digit in the browser and watch every layer of the network respond.

A local web app built on the standard library's ThreadingHTTPServer: the page (plain HTML, CSS
and JavaScript in ``static/``, shipped in the package, no CDN, no build step) and a JSON API
(``GET /api/models``, ``POST /api/predict``, ``GET /api/test-digit``) that scripts can use too.
"""
from .inference import prediction, quantise
from .payload import MAX_BODY, ApiError, input_from_body
from .registry import ModelEntry, ModelRegistry, build_registry, shipped_models
from .server import App, make_server

__all__ = ["MAX_BODY", "ApiError", "App", "ModelEntry", "ModelRegistry", "build_registry", "input_from_body",
           "make_server", "prediction", "quantise", "shipped_models"]
