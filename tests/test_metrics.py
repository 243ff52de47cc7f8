import numpy as np

from edgefer.metrics import accuracy, confusion_matrix, macro_f1


def test_confusion_accuracy_and_macro_f1_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(y, p, 4)
    assert cm.tolist()[:3] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0]]
    assert accuracy(cm) == 4 / 6
    # F1: class0 2*1/(2+2)=0.5, class1 2*2/(2+3)=0.8, class2 2*1/(2+1)=2/3; class 3 absent -> ignored
    assert abs(macro_f1(cm) - (0.5 + 0.8 + 2 / 3) / 3) < 1e-12


def test_perfect_and_empty():
    y = np.array([3, 3, 1])
    assert macro_f1(confusion_matrix(y, y, 8)) == 1.0
    assert accuracy(np.zeros((8, 8), int)) == 0.0
