"""Draw docs/partition.png: a 2-D tree's partition and one kNN search.

Run from the repository root: ``python docs/make_partition_png.py`` (needs matplotlib).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import kdforge  # noqa: E402
import kdforge.plot  # noqa: E402

rng = np.random.default_rng(7)
centers = np.array([[0.25, 0.3], [0.7, 0.75], [0.75, 0.2]])
points = centers[rng.integers(0, 3, size=200)] + 0.09 * rng.standard_normal((200, 2))
tree = kdforge.KDTree(points, leaf_size=8)

fig, ax = plt.subplots(figsize=(7.5, 6))
kdforge.plot.partition(tree, ax, query=[0.52, 0.45], k=5)
ax.set_title(f"kdforge: {tree.n_points} points, leaf_size=8, {tree.n_leaves} leaves; kNN k=5")
fig.tight_layout()
fig.savefig(Path(__file__).with_name("partition.png"), dpi=110)
