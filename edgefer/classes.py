"""The class list, written once. FER+ order (Barsoum et al. 2016)."""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

# Folder and label names seen in the wild, mapped onto CLASSES.
SYNONYMS: dict[str, str] = {
    "neutral": "neutral", "calm": "neutral", "ne": "neutral",
    "happy": "happiness", "happiness": "happiness", "joy": "happiness", "ha": "happiness",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
    "sad": "sadness", "sadness": "sadness", "sa": "sadness",
    "angry": "anger", "anger": "anger", "an": "anger", "mad": "anger",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "fe": "fear",
    "contempt": "contempt", "contemptuous": "contempt", "co": "contempt",
}


def class_index(name: str) -> int:
    """Index in CLASSES of a class name or synonym (case-insensitive); raises KeyError."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = key.split("_", 1)[-1] if key[:1].isdigit() and "_" in key else key  # "3_happy"
    return CLASSES.index(SYNONYMS[key])
