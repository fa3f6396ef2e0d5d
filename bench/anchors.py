#!/usr/bin/env python3
"""The benchmark's outside anchors: XGBoost and scikit-learn's HistGradientBoosting with their defaults.

The benchmark (bench/Microsoft.ML.AutoClip.Benchmarks, section 6) dumps the featurized rows every ML.NET trainer saw,
one folder per data set, and calls this script once per set:

    /usr/bin/python3 bench/anchors.py DIR

DIR holds meta.json ({"task": "regression" | "binary" | "multiclass", "classes": K, "features": F,
"train_rows": N, "test_rows": M}) and four little-endian float32 files: train.features (N x F), train.label (N),
test.features (M x F), test.label (M); multiclass labels are the class indices 0..K-1. For each anchor the script
fits on the training rows, timing the fit alone, and writes <anchor>.scores (M x 1 for regression and binary: the
prediction or the positive class's probability; M x K for multiclass: the class probabilities) and <anchor>.json
({"fit_seconds": ..., "version": ...}). The benchmark scores those with ML.NET's own evaluators, as it scores its trainers.

Defaults as shipped, with one exception: HistGradientBoosting gets random_state=0, so that its early stopping (on by
default above 10,000 rows) holds out the same rows on every run. Both use every core, as LightGbm does.
Needs Debian's python3-xgboost and python3-sklearn (apt-get install python3-xgboost python3-sklearn).
"""
import json
import os
import sys
import time

import numpy as np


def load(folder):
    with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    features = meta["features"]

    def read(name, rows, width):
        values = np.fromfile(os.path.join(folder, name), dtype="<f4")
        if values.size != rows * width:
            raise ValueError(f"{os.path.join(folder, name)}: {values.size} values, expected {rows} x {width}")
        return values.reshape(rows, width) if width > 1 else values

    train_x = read("train.features", meta["train_rows"], features).reshape(meta["train_rows"], features)
    test_x = read("test.features", meta["test_rows"], features).reshape(meta["test_rows"], features)
    train_y = read("train.label", meta["train_rows"], 1)
    return meta, train_x, train_y, test_x


def anchors(task):
    import sklearn
    import xgboost
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == "regression":
        return [("XGBoost", xgboost.__version__, xgboost.XGBRegressor()),
                ("HistGradientBoosting", sklearn.__version__, HistGradientBoostingRegressor(random_state=0))]
    return [("XGBoost", xgboost.__version__, xgboost.XGBClassifier()),
            ("HistGradientBoosting", sklearn.__version__, HistGradientBoostingClassifier(random_state=0))]


def scores(task, model, test_x, classes):
    if task == "regression":
        return model.predict(test_x).astype("<f4").reshape(-1, 1)
    probabilities = model.predict_proba(test_x)
    if task == "binary":
        return probabilities[:, list(model.classes_).index(1)].astype("<f4").reshape(-1, 1)
    # A class absent from the training rows gets probability 0 (its column is missing from predict_proba).
    full = np.zeros((test_x.shape[0], classes), dtype="<f4")
    for column, label in enumerate(model.classes_):
        full[:, int(label)] = probabilities[:, column]
    return full


def main(folder):
    meta, train_x, train_y, test_x = load(folder)
    task = meta["task"]
    if task != "regression":
        train_y = train_y.astype(np.int64)
    for name, version, model in anchors(task):
        start = time.perf_counter()
        if task == "multiclass":
            # XGBoost wants the classes numbered 0..K'-1 over the training rows: number the ones present, map back after.
            present = np.unique(train_y)
            model.fit(train_x, np.searchsorted(present, train_y))
            seconds = time.perf_counter() - start
            model.classes_ = present
        else:
            model.fit(train_x, train_y)
            seconds = time.perf_counter() - start
        scores(task, model, test_x, meta.get("classes", 0)).tofile(os.path.join(folder, name + ".scores"))
        with open(os.path.join(folder, name + ".json"), "w", encoding="utf-8") as f:
            json.dump({"fit_seconds": seconds, "version": version}, f)
        print(f"{name} {version}: fit {seconds:.2f} s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
