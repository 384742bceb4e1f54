"""Stub of the C extension ``_kernel.c``: the name index's score bounds and word similarities (``index.py``)."""

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

class Kernel:
    def __init__(
        self,
        form_off: npt.NDArray[np.int64],
        form_tok: npt.NDArray[np.int32],
        form_w: npt.NDArray[np.float64],
        form_moff: npt.NDArray[np.int64],
        form_mtok: npt.NDArray[np.int32],
        form_mw: npt.NDArray[np.float64],
        form_total: npt.NDArray[np.float64],
        form_total32: npt.NDArray[np.float32],
        form_org: npt.NDArray[np.bool_],
        form_single: npt.NDArray[np.bool_],
        vocab_first: npt.NDArray[np.int32],
        vocab_single: npt.NDArray[np.bool_],
        all_off: npt.NDArray[np.int64],
        all_form: npt.NDArray[np.int32],
        all_w: npt.NDArray[np.float64],
        vocab: tuple[str, ...],
        vocab_ph: tuple[str, ...],
        initial_sim: float,
        phonetic_rescue: float,
        min_phonetic: int,
    ) -> None: ...
    def similarities(self, token: str, phonetic: str, ids: Iterable[int]) -> dict[int, float] | None: ...
    def bound(
        self,
        rows: Sequence[
            tuple[
                npt.NDArray[np.int32],
                npt.NDArray[np.float32],
                float,
                int,
                bool,
                npt.NDArray[np.int32] | None,
                npt.NDArray[np.complex64] | None,
            ]
        ],
        gen: Sequence[int],
        const_q: float,
        const_e: float,
        wq: float,
        q_org: bool,
        threshold: float,
        slack: float,
    ) -> list[tuple[int, float]]: ...
