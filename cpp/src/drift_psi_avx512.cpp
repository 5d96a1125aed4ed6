// PSI row counting built with AVX512 (see drift_psi_rows.hpp; picked at run time). 32-byte
// vectors, as on AVX2: with AVX-512's compare-into-mask they counted 20-64 float features as
// fast or faster than 64-byte ones on this Xeon (20 x 1M float32: 13.5 against 16.4 ms).
#include "drift_psi_rows.hpp"

PIPEWARD_PSI_ROWS_DEFINE(avx512, 32)
