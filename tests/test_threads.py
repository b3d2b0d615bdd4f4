"""One tree queried from many Python threads at once gives the serial answers."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import kdforge


def test_eight_threads_share_one_tree():
    rng = np.random.default_rng(0)
    tree = kdforge.KDTree(rng.random((30000, 3)))
    batches = [rng.random((2000, 3)) for _ in range(16)]
    serial = [(tree.query(b, k=5), tree.query_radius(b, 0.02, count_only=True)) for b in batches]

    def work(i):
        batch = batches[i]
        # mix in-thread parallelism too: workers=2 inside 8 caller threads
        return tree.query(batch, k=5, workers=1 + i % 2), tree.query_radius(batch, 0.02, count_only=True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(work, range(len(batches))))
    for (s_knn, s_count), (t_knn, t_count) in zip(serial, threaded):
        np.testing.assert_array_equal(s_knn[1], t_knn[1])
        np.testing.assert_array_equal(s_knn[0], t_knn[0])
        np.testing.assert_array_equal(s_count, t_count)
