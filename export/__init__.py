"""Offline side of the detector: data loading, features, training, ONNX export, calibration, evaluation.

Needs the ``train`` extra (torch, onnx, matplotlib); the serving side (``taxifraud``) never imports it.
"""
