"""Device adapter of `pycx.kernels.kde_sums`: Hamming-KDE sums and distances on the GPU.
"""
from __future__ import annotations


from ._array import (_check_same_device, _concat, _dense_codes, _device_labels, _device_weights, address, cuda_kernels, empty, is_device_packed, packed_words, stream_of)


def _check_pair(a, b):
    if not is_device_packed(a) or (b is not None and not is_device_packed(b)):
        raise ValueError("arguments 'a' and 'b' must both be on the GPU or both on the host")
    wa = packed_words("a", a)
    wb = None
    if b is not None:
        wb = packed_words("b", b)
        _check_same_device("b", wb, wa, "a")
    return wa, wb


def kde_sums(a, b, s2: float, weights, labels, b_labels):
    """(total, same_label or None) on the device; arguments validated as on the CPU."""
    wa, wb = _check_pair(a, b)
    m = a.n_rows if b is None else b.n_rows
    w = None if weights is None else _device_weights(wa, weights, m)
    la = lb = None
    if labels is None:
        if b_labels is not None:
            raise ValueError("argument 'b_labels' needs 'labels' (the labels of the rows of A)")
    else:
        ya = _device_labels(wa, "labels", labels, a.n_rows)
        if b is None:
            if b_labels is not None:
                raise ValueError("argument 'b_labels' is only used when 'b' is given")
            la = _dense_codes(wa, ya)
        else:
            if b_labels is None:
                raise ValueError("argument 'b_labels' is required with 'labels' when 'b' is given")
            yb = _device_labels(wa, "b_labels", b_labels, m)
            codes = _dense_codes(wa, _concat(wa, [ya, yb]))
            la, lb = codes[: a.n_rows], codes[a.n_rows:]  # contiguous slices of a 1-D array
    cuda = cuda_kernels("a")
    total = empty(wa, (a.n_rows,), "float64")
    same = empty(wa, (a.n_rows,), "float64") if la is not None else None
    # B = A is said explicitly: an empty B (m == 0 or n_bits == 0) has address 0 as well.
    cuda.kde_sums(wa.ptr, a.n_rows, 0 if wb is None else wb.ptr, m, wb is None, a.n_bits, s2,
                  address(w), address(la), address(lb), address(total), address(same), wa.device,
                  stream_of(wa))
    return total, same


def hamming_distances(a, b):
    wa, wb = _check_pair(a, b)
    m = a.n_rows if b is None else b.n_rows
    cuda = cuda_kernels("a")
    out = empty(wa, (a.n_rows, m), "int32")
    if a.n_rows * m == 0:  # nothing to write (and the output's address is 0)
        return out
    cuda.hamming_distances(wa.ptr, a.n_rows, 0 if wb is None else wb.ptr, m, wb is None,
                           a.n_bits, address(out), wa.device, stream_of(wa))
    return out


