// An unwritable spool while the server runs (issue 4): the end of DATA gets 451 4.3.0, no
// partial file stays in tmp/ or incoming/, and once the fault is fixed a fresh message is
// delivered. chmod stops the server because it never runs as root: started as root (as in CI)
// it drops to --user nobody; otherwise it runs as the tester, whom mode 0500 stops too.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <filesystem>

namespace labmta::test {

TEST_CASE("e2e: a spool folder that cannot be written gives 451 4.3.0 and loses nothing",
          "[e2e][spool]") {
    namespace fs = std::filesystem;
    TestServer server;
    for (const char* folder : {"tmp", "incoming"}) {
        INFO(folder);
        const std::string path = server.spool() + "/" + folder;
        // The last fresh message is out of the queue before the fault starts.
        REQUIRE(wait_for_file_count(server.incoming_dir(), 0));
        fs::permissions(path, fs::perms::owner_read | fs::perms::owner_exec);  // 0500

        SmtpClient client = server.connect();
        REQUIRE(client.read_greeting() == kGreeting);
        REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
        CHECK(client.ask("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok");
        CHECK(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
        CHECK(client.ask("DATA").starts_with("354 "));
        const std::string marker = unique_marker();
        client.send("Subject: " + marker + "\r\n\r\n" + marker + "\r\n");
        CHECK(client.ask(".") == "451 4.3.0 Error: queue file write error");
        CHECK(client.ask("QUIT") == "221 2.0.0 Bye");

        fs::permissions(path, fs::perms::owner_all);  // fixed: 0700 again
        CHECK(list_files(server.spool() + "/tmp").empty());
        CHECK(list_files(server.incoming_dir()).empty());
        CHECK(wait_for_delivery(server.maildir_new("student"), marker, std::chrono::seconds(1))
                  .empty());
        check_fresh_message_delivered(server);
    }
}

}  // namespace labmta::test
