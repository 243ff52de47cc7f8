"""Datasets: FER+, Kaggle fer2013.csv, RAF-DB basic and class folders, detected by layout."""

from edgefer.data.faceset import FaceSet
from edgefer.data.layouts import LAYOUTS, SPLITS, detect_layout, load_dataset

__all__ = ["FaceSet", "LAYOUTS", "SPLITS", "detect_layout", "load_dataset"]
