// Sets up spdlog for the whole process: one line per event on stderr, shaped like Postfix's
// maillog ("Nov 28 14:32:11 profbox labmta/smtpd[1234]: connect from unknown[127.0.0.1]").
#pragma once

#include <string>

namespace labmta::app {

void setup_logging(const std::string& hostname);

}  // namespace labmta::app
