# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The zero-shot report, shaped like the paper's Table 3: mean ± std over splits per dataset, setting and variant."""

import math

import numpy as np


SETTING_TITLES = {"50_seen": "50% Seen", "75_seen": "75% Seen"}
# Row order and names of the report; the first three are the paper's Table 3 variants.
METHOD_TITLES = {
    "chance": "Chance (random scores)",
    "vanilla": "Vanilla MSQNet",
    "text_init": "Vanilla MSQNet + Text Init",
    "full": "MSQNet",
    "text_derived": "MSQNet, text-derived label queries",
    "supervised": "Supervised on all classes (reference)",
}
DATASET_TITLES = {"thumos14": "THUMOS14", "charades": "Charades", "hmdb51": "HMDB51"}
# The paper's Table 3 (multi-label accuracy, i.e. top-1, for THUMOS14 and HMDB51; mAP for Charades), in percent.
PAPER_TABLE_3 = {
    ("50_seen", "vanilla"): {"thumos14": 49.37, "charades": 15.87, "hmdb51": 45.66},
    ("50_seen", "text_init"): {"thumos14": 53.76, "charades": 18.30, "hmdb51": 51.22},
    ("50_seen", "full"): {"thumos14": 63.98, "charades": 30.91, "hmdb51": 59.24},
    ("75_seen", "vanilla"): {"thumos14": 52.02, "charades": 17.43, "hmdb51": 48.37},
    ("75_seen", "text_init"): {"thumos14": 60.28, "charades": 18.62, "hmdb51": 59.58},
    ("75_seen", "full"): {"thumos14": 75.33, "charades": 35.59, "hmdb51": 69.43},
}
METRIC_TITLES = {"mAP_macro": "mAP", "top1": "top-1"}


def mean_std(values) -> tuple[float, float, int] | None:
    """Mean, population standard deviation and count of the finite `values` (`None` when there are none)."""
    values = [float(value) for value in values if value is not None and math.isfinite(value)]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values)), len(values)


def _cell(values, scale=100.0) -> str:
    summary = mean_std(values)
    if summary is None:
        return "–"
    mean, std, count = summary
    return f"{mean * scale:.2f} ± {std * scale:.2f} ({count})"


def _ordered(values, order):
    known = [value for value in order if value in values]
    return known + sorted(value for value in values if value not in order)


def format_report(records, *, command=None, notes=None) -> str:
    """
    Markdown tables from run records (dicts with `dataset`, `setting`, `split_index`, `method`, `metric`, `unseen`
    and, for trained methods, `generalised`, `generalised_seen`, `generalised_unseen`, `generalised_harmonic`; values
    in [0, 1]). Figures are percentages, `mean ± std (number of splits)`; the paper's Table 3 figures sit beside ours.
    """
    datasets = _ordered({record["dataset"] for record in records}, list(DATASET_TITLES))
    settings = _ordered({record["setting"] for record in records}, list(SETTING_TITLES))
    methods = _ordered({record["method"] for record in records}, list(METHOD_TITLES))
    metrics = {record["dataset"]: record["metric"] for record in records}

    def values(dataset, setting, method, key):
        return [
            record.get(key)
            for record in records
            if (record["dataset"], record["setting"], record["method"]) == (dataset, setting, method)
        ]

    lines = ["### Zero-shot: unseen classes only", ""]
    header = ["Split", "Method"]
    for dataset in datasets:
        title = f"{DATASET_TITLES.get(dataset, dataset)} {METRIC_TITLES.get(metrics[dataset], metrics[dataset])}"
        header += [f"{title} (ours)", f"{title} (paper)"]
    lines += ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |"]
    for setting in settings:
        for method in methods:
            row = [SETTING_TITLES.get(setting, setting), METHOD_TITLES.get(method, method)]
            for dataset in datasets:
                paper = PAPER_TABLE_3.get((setting, method), {}).get(dataset)
                row += [_cell(values(dataset, setting, method, "unseen")), "–" if paper is None else f"{paper:.2f}"]
            lines.append("| " + " | ".join(row) + " |")

    trained = [method for method in methods if method != "chance"]
    lines += ["", "### Generalised: all classes on all test clips", ""]
    header = ["Split", "Method"]
    for dataset in datasets:
        title = DATASET_TITLES.get(dataset, dataset)
        metric = METRIC_TITLES.get(metrics[dataset], metrics[dataset])
        header += [f"{title} {metric}, all classes", "mAP seen", "mAP unseen", "harmonic mean"]
    lines += ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |"]
    for setting in settings:
        for method in trained:
            row = [SETTING_TITLES.get(setting, setting), METHOD_TITLES.get(method, method)]
            for dataset in datasets:
                for key in ("generalised", "generalised_seen", "generalised_unseen", "generalised_harmonic"):
                    row.append(_cell(values(dataset, setting, method, key)))
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Figures in percent, mean ± standard deviation over the class splits (number of splits in brackets). "
        "The paper's figures are its Table 3."
    )
    if notes:
        lines += ["", *notes]
    if command:
        lines += ["", "Produced by:", "", "```bash", command, "```"]
    return "\n".join(lines) + "\n"


__all__ = ["METHOD_TITLES", "PAPER_TABLE_3", "format_report", "mean_std"]
