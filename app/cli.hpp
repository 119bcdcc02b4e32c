#pragma once
// The `perennial` command line: validate, plan, run, kernels. A scientist's own executable
// (their kernels linked in) calls cli_main from its main().

namespace perennial {

/// Exit codes: 0 success, 1 the campaign ran but did not complete, 2 bad input.
int cli_main(int argc, char** argv);

}  // namespace perennial
