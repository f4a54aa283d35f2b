"""Token streams to batches for truncated BPTT, as in char-rnn and word_language_model.

The stream is cut into ``batch_size`` contiguous parallel streams (rows); training walks
along them in chunks of ``seq_len`` tokens, so row ``b`` of chunk ``i + 1`` continues row
``b`` of chunk ``i`` and the recurrent state can be carried from one chunk to the next.
"""

from torch import Tensor


def batchify(ids: Tensor, batch_size: int) -> Tensor:
    """[batch_size, n // batch_size] int64: row b is the b-th contiguous piece of the stream."""
    length = ids.numel() // batch_size
    return ids[: length * batch_size].long().view(batch_size, length)


def num_chunks(data: Tensor, seq_len: int) -> int:
    """How many chunks one pass over ``data`` takes (the last one may be shorter)."""
    return -(-(data.size(1) - 1) // seq_len)


def get_chunk(data: Tensor, index: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """Inputs and next-token targets of chunk ``index``, each [batch, <= seq_len]."""
    start = index * seq_len
    end = min(start + seq_len, data.size(1) - 1)
    return data[:, start:end], data[:, start + 1 : end + 1]
