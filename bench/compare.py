"""How to read bench/spam.py's runs over several split seeds: per model the per-seed F1 (as a
list) with its sample sd, and for the reference against each baseline the paired difference
with its standard error and a verdict.

The seeds pair the runs: every model sees the same split on a seed, so the split's own luck
cancels in the difference ref - baseline on that seed. With n seeds, the standard error of the
mean paired difference is sd(differences, ddof=1) / sqrt(n) (the paired t setting; e.g.
Wasserman, *All of Statistics*, 2004, ch. 10). The verdict: "ahead beyond noise" where the mean
difference exceeds twice its standard error, "behind" where it is below minus twice, else
"tie". Pure standard library, so it is tested on fixed numbers without training anything.
"""

from __future__ import annotations

import math
import statistics

#: the verdict's margin, in standard errors of the mean paired difference
MARGIN_SE = 2.0


def sample_sd(values: list[float]) -> float | None:
    """The sample standard deviation (ddof=1); None for fewer than two values."""
    return statistics.stdev(values) if len(values) >= 2 else None


def paired(reference: list[float], baseline: list[float]) -> dict:
    """The mean paired difference ``reference - baseline``, its standard error and the
    verdict. The two lists hold one figure per seed, in the same seed order."""
    if len(reference) != len(baseline) or not reference:
        raise ValueError(f"paired figures need one value per seed on both sides, got "
                         f"{len(reference)} and {len(baseline)}")
    diffs = [r - b for r, b in zip(reference, baseline)]
    mean = statistics.fmean(diffs)
    sd = sample_sd(diffs)
    se = sd / math.sqrt(len(diffs)) if sd is not None else None
    return {"differences": [round(d, 4) for d in diffs], "mean_difference": round(mean, 4),
            "se": None if se is None else round(se, 4), "verdict": verdict(mean, se)}


def verdict(mean: float, se: float | None) -> str:
    """"ahead beyond noise" (mean > 2 SE), "behind" (mean < -2 SE) or "tie". With one seed
    (no SE) nothing is beyond noise; with SE 0 (identical differences) any nonzero mean is."""
    if se is None:
        return "tie (one seed: no standard error)"
    if mean > MARGIN_SE * se:
        return "ahead beyond noise"
    if mean < -MARGIN_SE * se:
        return "behind"
    return "tie"


def compare(runs: dict[int, dict[str, dict]], reference: str = "lstm", key: str = "f1") -> dict:
    """``runs[seed][model][key]`` -> per model the per-seed figures (seed order), mean and
    sample sd; per baseline the paired comparison with ``reference``; one verdict line each."""
    seeds = list(runs)
    names = list(runs[seeds[0]])
    per_model = {}
    for name in names:
        values = [runs[s][name][key] for s in seeds]
        sd = sample_sd(values)
        per_model[name] = {"per_seed": values, "mean": round(statistics.fmean(values), 4),
                           "sd": None if sd is None else round(sd, 4)}
    out: dict = {"metric": key, "seeds": seeds, "models": per_model}
    if reference in names:
        vs = {b: paired(per_model[reference]["per_seed"], per_model[b]["per_seed"])
              for b in names if b != reference}
        out["paired"] = vs
        out["verdicts"] = [line(reference, b, v, key) for b, v in vs.items()]
    return out


def line(reference: str, baseline: str, p: dict, key: str = "f1") -> str:
    """One verdict line, e.g. "lstm vs tfidf_logreg: f1 +0.0027 (SE 0.0011, 5 seeds): ahead
    beyond noise"."""
    se = "n/a" if p["se"] is None else f"{p['se']:.4f}"
    return (f"{reference} vs {baseline}: {key} {p['mean_difference']:+.4f} (SE {se}, "
            f"{len(p['differences'])} seeds): {p['verdict']}")
