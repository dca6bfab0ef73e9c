"""Learning from the shop's catalog: a projection head on the frozen backbone's embeddings.

torch is imported only inside the functions that train, so importing this package is cheap.
"""

from lookalike.train.api import TrainReport, evaluate_before_after, train_workspace
from lookalike.train.config import LOSSES, METHODS, TrainOptions
from lookalike.train.data import Splits, TrainData, load_workspace_data, make_splits
from lookalike.train.evaluation import retrieval_metrics
from lookalike.train.mining import Triplets, mine_triplets
from lookalike.train.model import class_weights

__all__ = [
    "LOSSES",
    "METHODS",
    "Splits",
    "TrainData",
    "TrainOptions",
    "TrainReport",
    "Triplets",
    "class_weights",
    "evaluate_before_after",
    "load_workspace_data",
    "make_splits",
    "mine_triplets",
    "retrieval_metrics",
    "train_workspace",
]
