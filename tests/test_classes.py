import pytest

from edgefer.classes import CLASSES, class_index


def test_ferplus_order():
    assert CLASSES == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


@pytest.mark.parametrize("name,expected", [("happy", 1), ("Happiness", 1), ("sad", 3), ("angry", 4), ("Surprised", 2),
                                           ("3_happy", 1), ("fearful", 6), ("neutral", 0)])
def test_synonyms(name, expected):
    assert class_index(name) == expected


def test_unknown_class():
    with pytest.raises(KeyError):
        class_index("bored")
