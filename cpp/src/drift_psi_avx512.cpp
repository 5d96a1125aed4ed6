// PSI row counting built with AVX512 (see drift_psi_rows.hpp; picked at run time).
#include "drift_psi_rows.hpp"

PIPEWARD_PSI_ROWS_DEFINE(avx512, 64)
