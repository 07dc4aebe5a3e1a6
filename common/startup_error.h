// The one exception type of labmta: a fatal problem found while starting (config, bind,
// spool directories). main() catches it, logs one line and exits non-zero.
#pragma once

#include <stdexcept>

namespace labmta {

class StartupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace labmta
