"""Software prefetch: hint the CPU to fetch memory a search will read next.

Leaf scans of the budgeted search are bound by memory traffic; it finds the next leaf and
prefetches its points while it scans the current one (:mod:`kdforge._kernels.bbf`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Bytes per cache line, the prefetch granularity.
CACHE_LINE_BYTES = 64


@intrinsic
def _prefetch(typingctx, arr, index):
    """Hint the CPU to fetch the cache line holding element ``index`` of C-contiguous ``arr``."""
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(arr)(context, builder, args[0])
        pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(8).as_pointer())
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [pointer.type, int32, int32, int32])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0")
        # read access, keep in all cache levels, data cache
        builder.call(function, [pointer, ir.Constant(int32, 0), ir.Constant(int32, 3),
                                ir.Constant(int32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def prefetch_range(arr, start, count):
    """Prefetch ``count`` elements of C-contiguous ``arr`` from flat index ``start``.

    One hint per cache line. Taking flat indices rather than a sub-array avoids creating an
    array view (whose reference counting would cost more than the hint).
    """
    step = max(1, CACHE_LINE_BYTES // arr.itemsize)
    for offset in range(0, count, step):
        _prefetch(arr, start + offset)
