"""Pure detection metrics over anomaly scores of negatives and positives: AUROC, precision at a stated
fraud prevalence, recall, FPR and the precision-recall curve. Used by the evaluation and the report.
"""

from __future__ import annotations

import numpy as np

from taxifraud.confusion import precision

PREVALENCE = 0.05


def auroc(neg: np.ndarray, pos: np.ndarray) -> float:
    """Area under ROC = P(score_pos > score_neg) + 0.5 P(tie), via average ranks (Mann-Whitney U)."""
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    allv = np.concatenate([neg, pos]).astype(np.float64)
    _, inverse, counts = np.unique(allv, return_inverse=True, return_counts=True)
    order_rank = np.cumsum(counts) - (counts - 1) / 2.0  # average 1-based rank of each unique value
    ranks = order_rank[inverse]
    u = ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(neg) * len(pos)))


def binary_metrics(
    neg: np.ndarray, pos: np.ndarray, threshold: float, prevalence: float = PREVALENCE
) -> dict[str, float]:
    """Precision (at ``prevalence``), recall, FPR and AUROC for scores of negatives and positives."""
    recall = float((pos > threshold).mean()) if len(pos) else float("nan")
    fpr = float((neg > threshold).mean()) if len(neg) else float("nan")
    weighted = precision(prevalence * recall, (1.0 - prevalence) * fpr)
    return {
        "precision": round(float("nan") if weighted is None else weighted, 4),
        "recall": round(recall, 4),
        "fpr": round(fpr, 5),
        "auroc": round(auroc(neg, pos), 5),
        "n_negative": len(neg),
        "n_positive": len(pos),
    }


def pr_curve(neg: np.ndarray, pos: np.ndarray, prevalence: float = PREVALENCE) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) over all thresholds, positives weighted to ``prevalence``."""
    scores = np.concatenate([neg, pos])
    label = np.concatenate([np.zeros(len(neg)), np.ones(len(pos))])
    order = np.argsort(-scores, kind="stable")
    label = label[order]
    tp = np.cumsum(label) / len(pos) * prevalence
    fp = np.cumsum(1 - label) / len(neg) * (1 - prevalence)
    return tp / prevalence, tp / np.maximum(tp + fp, 1e-12)
