// Hostile input over real sockets (issue 4): SMTP smuggling with every bare CR/LF form of the
// end marker in one write, smtpd.bare_newline, web requests, the total connection limit, long
// lines, and recipients that try to name a path outside <spool>/mailboxes/<domain>/. Each test
// checks the exact replies and ends by showing that a fresh normal message still goes through.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace labmta::test {
namespace {

constexpr std::string_view kStartData = "354 End data with <CR><LF>.<CR><LF>";
constexpr std::string_view kBadRecipient = "501 5.1.3 Bad recipient address syntax";
constexpr std::string_view kBareNewline =
    "550 5.5.2 profbox.domain.local Error: bare <LF> received";
constexpr std::string_view kNonSmtp = "221 2.7.0 Error: I can break rules, too. Goodbye.";
// "\r\n" as "<CR><LF>", so that INFO shows which variant failed.
std::string visible(std::string_view bytes) {
    std::string out;
    for (const char c : bytes) {
        if (c == '\r') {
            out += "<CR>";
        } else if (c == '\n') {
            out += "<LF>";
        } else {
            out += c;
        }
    }
    return out;
}

// A whole session in one write: a message whose text holds `sequence` followed by a second,
// forged transaction (to teacher) whose own "<CRLF>.<CRLF>" is the first real end of data.
std::string smuggling_session(std::string_view sequence, std::string_view marker) {
    return "EHLO smuggler.example\r\n"
           "MAIL FROM:<sender@domain.local>\r\n"
           "RCPT TO:<student@domain.local>\r\n"
           "DATA\r\n"
           "Subject: smuggling "
           + std::string(marker)
           + "\r\n"
             "\r\n"
             "before"
           + std::string(sequence)
           + "MAIL FROM:<forged@domain.local>\r\n"
             "RCPT TO:<teacher@domain.local>\r\n"
             "DATA\r\n"
             "Subject: forged "
           + std::string(marker)
           + "\r\n"
             "\r\n"
             "forged body "
           + std::string(marker)
           + "\r\n"
             ".\r\n"
             "QUIT\r\n";
}

// The body of a delivered message: what follows the first empty line.
std::string body_of(const std::string& message) {
    const std::size_t blank = message.find("\n\n");
    return blank == std::string::npos ? "" : message.substr(blank + 2);
}

// Paths of all regular files under root, relative to it, sorted.
std::vector<std::string> files_under(const std::string& root) {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (!entry.is_directory()) {
            files.push_back(std::filesystem::relative(entry.path(), root).string());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

// Names of everything directly in dir (files and folders), sorted.
std::set<std::string> entries_in(const std::string& dir) {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        names.insert(entry.path().filename().string());
    }
    return names;
}

// A domain name of exactly `octets` octets, in labels of at most 63.
std::string domain_of_length(std::size_t octets) {
    std::string domain;
    while (octets - domain.size() > 63) {
        domain += std::string(62, 'a') + ".";
    }
    return domain + std::string(octets - domain.size(), 'b');
}

}  // namespace

TEST_CASE("e2e hostile: no bare CR or LF form of the end marker ends DATA, even in one write",
          "[e2e][hostile]") {
    TestServer server(options_with({}));
    // Postfix's smuggling list (bare LF and bare CR around the dot) and friends.
    const std::vector<std::string> sequences{"\n.\n",
                                             "\r\n.\n",
                                             "\n.\r\n",
                                             "\r.\r\n",
                                             "\r\n.\r",
                                             "\n.\r",
                                             "\r.\n",
                                             "\r.\r",
                                             "\n\r.\r\n",
                                             "\r\n.\r\r\n",
                                             "\r\n. \r\n",
                                             "\r\n\r\n.\n"};
    for (const std::string& sequence : sequences) {
        INFO("sequence " << visible(sequence));
        const std::string marker = unique_marker();
        SmtpClient client = server.connect();
        REQUIRE(client.read_greeting() == kGreeting);
        client.send(smuggling_session(sequence, marker));
        CHECK(client.read_reply().front() == "250-profbox.domain.local");
        CHECK(client.read_line() == "250 2.1.0 Ok");
        CHECK(client.read_line() == "250 2.1.5 Ok");
        CHECK(client.read_line() == kStartData);
        CHECK_FALSE(queue_id_of(client.read_line()).empty());
        // No reply for the forged MAIL, RCPT and DATA: they were message text.
        CHECK(client.read_line() == "221 2.0.0 Bye");
        CHECK(client.read_until_closed().empty());

        const std::string delivered = wait_for_delivery(server.maildir_new("student"), marker);
        REQUIRE_FALSE(delivered.empty());
        const std::string body = body_of(delivered);
        CHECK(body.starts_with("before"));
        CHECK(body.find("MAIL FROM:<forged@domain.local>\n") != std::string::npos);
        CHECK(body.find("\nRCPT TO:<teacher@domain.local>\n") != std::string::npos);
        CHECK(body.find("\nDATA\n") != std::string::npos);
        CHECK(body.find("\nSubject: forged " + marker + "\n") != std::string::npos);
        CHECK(body.ends_with("\nforged body " + marker + "\n"));
    }
    // Exactly one message per session, and nothing for the forged recipient.
    CHECK(list_files(server.maildir_new("student")).size() == sequences.size());
    CHECK(list_files(server.maildir_new("teacher")).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e hostile: bare_newline normalize stores a bare LF as a plain line end",
          "[e2e][hostile]") {
    TestServer server(options_with({}, "smtpd:\n  bare_newline: normalize\n"));
    SmtpClient client = ehlo_client(server, "hostile.example");
    const std::string marker = unique_marker();
    REQUIRE(client.ask("MAIL FROM:<nl@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    REQUIRE(client.ask("DATA") == kStartData);
    client.send("Subject: " + marker + "\n\none\ntwo\r\nthree\n..four\r\n");
    CHECK_FALSE(queue_id_of(client.ask(".")).empty());
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string delivered = wait_for_delivery(server.maildir_new("student"), marker);
    CHECK(delivered.find("\nSubject: " + marker + "\n") != std::string::npos);
    CHECK(body_of(delivered) == "one\ntwo\nthree\n.four\n");
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e hostile: bare_newline reject answers 550 5.5.2 at the end of data, hangs up and "
    "queues nothing",
    "[e2e][hostile]") {
    TestServer server(options_with({}, "smtpd:\n  bare_newline: reject\n"));
    const std::vector<std::string> sequences{"\n.\n", "\r\n.\n", "\n.\r\n", "\n"};
    for (const std::string& sequence : sequences) {
        INFO("sequence " << visible(sequence));
        SmtpClient client = server.connect();
        REQUIRE(client.read_greeting() == kGreeting);
        client.send(smuggling_session(sequence, unique_marker()));
        CHECK(client.read_reply().front() == "250-profbox.domain.local");
        CHECK(client.read_line() == "250 2.1.0 Ok");
        CHECK(client.read_line() == "250 2.1.5 Ok");
        CHECK(client.read_line() == kStartData);
        // Nothing after the 550: not the forged commands, not the pipelined QUIT.
        CHECK(client.read_until_closed() == std::string(kBareNewline) + "\r\n");
        CHECK(list_files(server.incoming_dir()).empty());
        CHECK(list_files(server.spool() + "/tmp").empty());
    }
    CHECK(list_files(server.maildir_new("student")).empty());
    CHECK(list_files(server.maildir_new("teacher")).empty());

    // Commands may still end in a bare LF, and a bare CR is not a bare LF.
    SmtpClient netcat = server.connect();
    REQUIRE(netcat.read_greeting() == kGreeting);
    const std::string marker = unique_marker();
    netcat.send("HELO netcat\n");
    CHECK(netcat.read_line() == "250 profbox.domain.local");
    netcat.send("MAIL FROM:<nc@domain.local>\n");
    CHECK(netcat.read_line() == "250 2.1.0 Ok");
    netcat.send("RCPT TO:<student@domain.local>\n");
    CHECK(netcat.read_line() == "250 2.1.5 Ok");
    netcat.send("DATA\n");
    CHECK(netcat.read_line() == kStartData);
    netcat.send("Subject: " + marker + "\r\n\r\nbare\rCR\r\n.\r\n");
    CHECK_FALSE(queue_id_of(netcat.read_line()).empty());
    netcat.send("QUIT\n");
    CHECK(netcat.read_line() == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e hostile: GET, POST and CONNECT get 221 2.7.0 and nothing more", "[e2e][hostile]") {
    TestServer server(options_with({}));
    const std::vector<std::string> requests{
        "GET / HTTP/1.1\r\nHost: profbox.domain.local\r\n\r\n",
        "get /index.html HTTP/1.0\r\n\r\n",
        "POST /submit HTTP/1.1\r\nContent-Length: 36\r\n\r\nMAIL "
        "FROM:<post@domain.local>\r\nNOOP\r\n",
        "CONNECT mail.example.com:25 HTTP/1.1\r\n\r\nHELO proxy\r\n"};
    for (const std::string& request : requests) {
        INFO("request " << visible(request));
        SmtpClient client = server.connect();
        REQUIRE(client.read_greeting() == kGreeting);
        client.send(request);
        CHECK(client.read_until_closed() == std::string(kNonSmtp) + "\r\n");
    }
    // Also in the middle of a session.
    SmtpClient client = ehlo_client(server, "hostile.example");
    REQUIRE(client.ask("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok");
    client.send("GET / HTTP/1.1\r\nNOOP\r\n");
    CHECK(client.read_until_closed() == std::string(kNonSmtp) + "\r\n");
    CHECK(list_files(server.incoming_dir()).empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e hostile: connections beyond limits.connections get 421 4.7.0 and are closed",
          "[e2e][hostile]") {
    TestServer server(options_with({{"connections", "2"}, {"connections_per_client", "10"}}));
    std::vector<SmtpClient> clients;
    for (int i = 0; i < 2; ++i) {
        clients.push_back(server.connect());
        REQUIRE(clients.back().read_greeting() == kGreeting);
    }
    {
        SmtpClient third = server.connect();
        CHECK(third.read_until_closed()
              == "421 4.7.0 profbox.domain.local Error: too many connections\r\n");
    }
    // The sessions already open are not disturbed.
    for (SmtpClient& client : clients) {
        CHECK(client.ask("NOOP") == "250 2.0.0 Ok");
        CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
        CHECK(client.read_until_closed().empty());
    }
    CHECK(wait_for_free_connection_slots(server, 2));
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e hostile: DATA lines over line_length arrive whole and a dot after the limit ends "
    "nothing",
    "[e2e][hostile]") {
    TestServer server(options_with({{"line_length", "1000"}}));
    SmtpClient client = ehlo_client(server, "hostile.example");
    const std::string marker = unique_marker();
    std::string long_line;
    for (int i = 0; long_line.size() < 5000; ++i) {
        long_line += std::to_string(i) + ",";
    }
    const std::string at_limit(1000, 'x');
    REQUIRE(client.ask("MAIL FROM:<long@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    REQUIRE(client.ask("DATA") == kStartData);
    // The third line is cut into pieces right before its ".": that piece is not a line start,
    // so it is neither unstuffed nor the end of data.
    client.send("Subject: " + marker + "\r\n\r\n" + long_line + "\r\n" + at_limit + "\r\n"
                + at_limit + ".\r\nMAIL FROM:<forged@domain.local>\r\n");
    CHECK_FALSE(queue_id_of(client.ask(".")).empty());
    CHECK(client.ask("NOOP") == "250 2.0.0 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string delivered = wait_for_delivery(server.maildir_new("student"), marker);
    CHECK(body_of(delivered)
          == long_line + "\n" + at_limit + "\n" + at_limit
                 + ".\nMAIL FROM:<forged@domain.local>\n");
    CHECK(list_files(server.maildir_new("student")).size() == 1);
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e hostile: a 1 MiB command line is one 500 5.5.2 command too long", "[e2e][hostile]") {
    TestServer server(options_with({}));
    SmtpClient client = ehlo_client(server, "hostile.example");
    client.send("MAIL FROM:<" + std::string(1 << 20, 'a') + "@domain.local>\r\nNOOP\r\n");
    CHECK(client.read_line() == "500 5.5.2 profbox.domain.local Error: command too long");
    CHECK(client.read_line() == "250 2.0.0 Ok");
    CHECK(client.ask("MAIL FROM:<after@domain.local>") == "250 2.1.0 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e hostile: a line that never ends is held in bounded memory and cut by the timeout "
    "with 421 4.4.2",
    "[e2e][hostile]") {
    TestServer server(options_with({{"timeout", "1"}}));
    const long before_kib = resident_kib(server.process().pid());
    REQUIRE(before_kib > 0);
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string mebibyte(1 << 20, 'A');
    for (int i = 0; i < 16; ++i) {  // 16 MiB without a newline, as fast as the server reads
        client.send(mebibyte);
    }
    const long growth_kib = resident_kib(server.process().pid()) - before_kib;
    INFO("server RSS grew by " << growth_kib << " KiB");
#if defined(__SANITIZE_ADDRESS__)
    WARN("AddressSanitizer build: the RSS bound is checked in the plain build only");
#else
    CHECK(growth_kib < 4096);  // held whole, it would be over 16384
#endif
    CHECK(client.read_until_closed() == std::string(kTimeoutExceeded) + "\r\n");
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e hostile: recipients with path tricks are refused or stay inside "
    "mailboxes/<domain>/",
    "[e2e][hostile]") {
    TestServer server(options_with({{"errors", "100"}}));
    const std::string parent = std::filesystem::path(server.spool()).parent_path().string();
    const std::set<std::string> parent_before = entries_in(parent);
    SmtpClient client = ehlo_client(server, "hostile.example");
    REQUIRE(client.ask("MAIL FROM:<attacker@domain.local>") == "250 2.1.0 Ok");

    const std::vector<std::string> refused{"../etc@domain.local",
                                           "..@domain.local",
                                           "..",
                                           "../../../../tmp/owned@domain.local",
                                           "a/../../b@domain.local",
                                           "a/b@domain.local",
                                           "/etc/passwd@domain.local",
                                           ".hidden@domain.local",
                                           ".@domain.local",
                                           "trailing.@domain.local",
                                           "a..b@domain.local",
                                           "..%2f..@domain.local",
                                           "a\\b@domain.local",
                                           "..\\..\\x@domain.local",
                                           "a\x01"
                                           "b@domain.local",
                                           "a\x1b[2Jb@domain.local",
                                           "del\x7f@domain.local",
                                           "cr\rx@domain.local",
                                           "x@../domain.local",
                                           "x@domain.local/../..",
                                           "x@.domain.local",
                                           "x@domain..local",
                                           "@evil.example:../x@domain.local"};
    for (const std::string& address : refused) {
        INFO("address " << visible(address));
        CHECK(client.ask("RCPT TO:<" + address + ">") == kBadRecipient);
    }

    // Odd but valid local parts: each is one folder inside mailboxes/domain.local/.
    const std::vector<std::pair<std::string, std::string>> accepted{
        {"%2e%2e@domain.local", "%2e%2e"},
        {"%2e%2e%2f%2e%2e%2fetc@domain.local", "%2e%2e%2f%2e%2e%2fetc"},
        {"~root@domain.local", "~root"},
        {"$HOME@domain.local", "$home"},
        {"first.last@domain.local", "first.last"},
        {"Teacher@DOMAIN.Local", "teacher"}};
    for (const auto& [address, folder] : accepted) {
        INFO("address " << address);
        CHECK(client.ask("RCPT TO:<" + address + ">") == "250 2.1.5 Ok");
    }
    const std::string marker = unique_marker();
    REQUIRE(client.ask("DATA") == kStartData);
    client.send("Subject: " + marker + "\r\n\r\npaths\r\n");
    CHECK_FALSE(queue_id_of(client.ask(".")).empty());
    // Upper-case forms of an existing mailbox land in it, not beside it.
    for (const std::string address : {"STUDENT@domain.local", "StUdEnT@DoMaIn.LoCaL"}) {
        send_message(client, "attacker@domain.local", {address}, "Subject: " + marker + "\n");
    }
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");

    std::set<std::string> folders{"student"};
    for (const auto& [address, folder] : accepted) {
        INFO("address " << address);
        CHECK_FALSE(wait_for_delivery(server.maildir_new(folder), marker).empty());
        folders.insert(folder);
    }
    CHECK(wait_for_file_count(server.maildir_new("student"), 2));
    CHECK(wait_for_file_count(server.incoming_dir(), 0));

    // Every file under mailboxes/ is domain.local/<one of those folders>/{tmp,new,cur}/<file>.
    const std::string mailboxes = server.spool() + "/mailboxes";
    CHECK(entries_in(mailboxes) == std::set<std::string>{"domain.local"});
    CHECK(entries_in(mailboxes + "/domain.local") == folders);
    for (const std::string& file : files_under(mailboxes)) {
        INFO("file " << file);
        const std::filesystem::path path(file);
        const std::vector<std::string> parts(path.begin(), path.end());
        REQUIRE(parts.size() == 4);
        CHECK(parts[0] == "domain.local");
        CHECK(folders.contains(parts[1]));
        CHECK(parts[2] == "new");
    }
    // Nothing appeared beside the spool either.
    CHECK(entries_in(parent) == parent_before);
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e hostile: quoted local parts are 501 5.1.3, lengths are checked at 64, 254 and 255 "
    "octets",
    "[e2e][hostile]") {
    TestServer server(options_with({{"errors", "100"}}));
    SmtpClient client = ehlo_client(server, "hostile.example");
    CHECK(client.ask("MAIL FROM:<\"quoted\"@domain.local>")
          == "501 5.1.7 Bad sender address syntax");
    CHECK(client.ask("MAIL FROM:<" + std::string(65, 's') + "@domain.local>")
          == "501 5.1.7 Bad sender address syntax");
    REQUIRE(client.ask("MAIL FROM:<" + std::string(64, 's') + "@domain.local>") == "250 2.1.0 Ok");
    for (const std::string address : {"\"student\"@domain.local",
                                      "\"../x\"@domain.local",
                                      "\"a b\"@domain.local",
                                      "\"a\\\"b\"@domain.local",
                                      "\"\"@domain.local"}) {
        INFO("address " << address);
        CHECK(client.ask("RCPT TO:<" + address + ">") == kBadRecipient);
    }
    // RFC 5321 4.5.3.1: local part 64 octets, domain 255, path 256 with the angle brackets.
    const std::string local_64(64, 'l');
    CHECK(client.ask("RCPT TO:<" + std::string(65, 'l') + "@domain.local>") == kBadRecipient);
    CHECK(client.ask("RCPT TO:<" + local_64 + "@domain.local>") == "250 2.1.5 Ok");
    const std::string address_254 = "a@" + domain_of_length(252);
    REQUIRE(address_254.size() == 254);
    CHECK(client.ask("RCPT TO:<" + address_254 + ">")
          == "554 5.7.1 <" + address_254 + ">: Relay access denied");
    CHECK(client.ask("RCPT TO:<a@" + domain_of_length(253) + ">") == kBadRecipient);
    CHECK(client.ask("RCPT TO:<a@" + domain_of_length(255) + ">") == kBadRecipient);
    CHECK(client.ask("RCPT TO:<a@" + domain_of_length(256) + ">") == kBadRecipient);
    CHECK(client.ask("RCPT TO:<a@" + std::string(64, 'd') + ".example>") == kBadRecipient);

    const std::string marker = unique_marker();
    REQUIRE(client.ask("DATA") == kStartData);
    client.send("Subject: " + marker + "\r\n\r\nlong local part\r\n");
    CHECK_FALSE(queue_id_of(client.ask(".")).empty());
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new(local_64), marker).empty());
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
