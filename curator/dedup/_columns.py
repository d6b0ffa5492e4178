"""Column names of dedup's intermediate Parquet files under ``work_dir/<step>/`` (never in outputs).

Output columns (``text_hash``, ``dup_cluster_id``, ``kept_id``, ...) come from :mod:`curator.schema`.
"""

from __future__ import annotations

SIGNATURE = "minhash_signature"  # fixed_size_list<uint32>[num_perm]
DOC_LEN = "dedup_doc_len"  # text length in characters (keep policy)
N_SHINGLES = "dedup_n_shingles"  # shingles of the document (0: empty text, never a candidate)
LSH_KEY = "lsh_key"  # uint64 hash of (band index, band values)
PART = "dedup_part"  # shuffle partition of a key: key % partitions
EDGE_A = "edge_a"  # candidate pair, EDGE_A < EDGE_B
EDGE_B = "edge_b"
SIMILARITY = "est_jaccard"  # signature Jaccard of a pair
SHINGLE_JACCARD = "shingle_jaccard"  # true Jaccard of the pair's shingle sets (verify_exact)
