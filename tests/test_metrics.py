import numpy as np

from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix, macro_f1, per_class_recall


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


def test_balanced_accuracy_recall_and_f1_over_classes_in_the_truth():
    # truth: 4 of class 0, 2 of class 1, 1 of class 2; class 3 only ever predicted (a false alarm)
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 0, 3, 1, 0, 2])
    cm = confusion_matrix(y, p, 4)
    recall = per_class_recall(cm)
    assert recall[:3].tolist() == [0.75, 0.5, 1.0] and np.isnan(recall[3])
    assert balanced_accuracy(cm) == (0.75 + 0.5 + 1.0) / 3
    # F1 by hand: class 0: 2*3/(4+4) = 0.75; class 1: 2*1/(2+1) = 2/3; class 2: 2*1/(1+1) = 1;
    # class 3 is not in the truth, so it is not averaged in as a zero.
    assert abs(macro_f1(cm) - (0.75 + 2 / 3 + 1.0) / 3) < 1e-12
    assert accuracy(cm) == 5 / 7


def test_balanced_accuracy_punishes_the_majority_guess():
    y = np.array([0] * 90 + [1] * 10)
    cm = confusion_matrix(y, np.zeros(100, int), 2)
    assert accuracy(cm) == 0.9 and balanced_accuracy(cm) == 0.5
