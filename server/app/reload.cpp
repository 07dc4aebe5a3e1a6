// See reload.h.
#include "server/app/reload.h"

namespace labmta::app {
namespace {

std::vector<std::string> listen_texts(const config::Config& config) {
    std::vector<std::string> texts;
    for (const config::ListenAddress& address : config.listen) {
        texts.push_back(config::format_listen_address(address));
    }
    return texts;
}

bool same_queue(const config::Queue& a, const config::Queue& b) {
    return a.retry_s == b.retry_s && a.max_retry_s == b.max_retry_s && a.lifetime_s == b.lifetime_s
           && a.min_free_bytes == b.min_free_bytes;
}

// Copies the member from active into next, noting its key when the values differ.
template <typename Value, typename Same>
void keep(std::string_view key, const Value& active, Value& next, Same same, ReloadPlan& plan) {
    if (!same(active, next)) {
        plan.ignored.emplace_back(key);
        next = active;
    }
}

}  // namespace

ReloadPlan plan_reload(const config::Config& active, config::Config next) {
    ReloadPlan plan;
    const auto equal = [](const auto& a, const auto& b) { return a == b; };
    if (listen_texts(active) != listen_texts(next)) {
        plan.ignored.emplace_back("listen");
        next.listen = active.listen;
    }
    keep("spool", active.spool, next.spool, equal, plan);
    keep("user", active.user, next.user, equal, plan);
    keep("hostname", active.hostname, next.hostname, equal, plan);
    keep("local_domains", active.local_domains, next.local_domains, equal, plan);
    keep("queue", active.queue, next.queue, same_queue, plan);
    keep("relay.relayhost", active.relay.relayhost, next.relay.relayhost, equal, plan);
    keep("dns.servers", active.dns.servers, next.dns.servers, equal, plan);
    plan.effective = std::move(next);
    return plan;
}

}  // namespace labmta::app
