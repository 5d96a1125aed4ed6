"""Guarded model serving: a signed model behind authentication, roles, rate limits, input
validation, an out-of-distribution guard, hardened and watermarked outputs, extraction and
drift monitors, metrics and a tamper-evident request log.

Needs the ``serve`` extra (FastAPI, uvicorn, limits, prometheus-client, pyjwt, skops,
onnxruntime): ``pip install pipeward[serve]``.
"""

from __future__ import annotations

from .app import Service, create_app
from .extraction import ExtractionDetector
from .keys import ApiKey, KeyStore
from .model_dir import ModelBundle, ModelDirError, load_model_dir, package, verify_model_dir
from .model_file import ServedModel
from .policy import Policy
from .schema import Feature, ModelSchema
from .watermark import Watermark, WatermarkVerdict, verify_watermark

__all__ = [
    "ApiKey",
    "ExtractionDetector",
    "Feature",
    "KeyStore",
    "ModelBundle",
    "ModelDirError",
    "ModelSchema",
    "Policy",
    "ServedModel",
    "Service",
    "Watermark",
    "WatermarkVerdict",
    "create_app",
    "load_model_dir",
    "package",
    "verify_model_dir",
    "verify_watermark",
]
