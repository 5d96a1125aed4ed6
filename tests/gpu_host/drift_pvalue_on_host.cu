// Runs the device KS p-value code (cuda/drift_device.cuh) on the host, so it can be checked
// against scipy on machines without a GPU (tests/test_gpu_sources.py).
// Usage: drift_pvalue_on_host N1 N2 D TWO_SIDED [...]: prints one p-value per quadruple
// ("nan" where the launcher would compute it on the host).
#include <cstdio>
#include <cstdlib>

#include "drift_device.cuh"

int main(int argc, char** argv) {
  for (int a = 1; a + 3 < argc; a += 4) {
    const long long n1 = std::atoll(argv[a]), n2 = std::atoll(argv[a + 1]);
    const double d = std::atof(argv[a + 2]);
    const bool two_sided = std::atoi(argv[a + 3]) != 0;
    std::printf("%.17g\n", pipeward::drift_device::ks_asymp_pvalue(n1, n2, d, two_sided));
  }
  return 0;
}
