#include "core/procenv.hpp"

#include <string_view>
#include <unordered_map>

namespace lb {

const char* const kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

namespace {

std::string_view key_of(const std::string& e) {
    std::string_view v(e);
    return v.substr(0, v.find('='));
}

bool has_key(const std::vector<std::string>& env, std::string_view key) {
    for (const auto& e : env)
        if (key_of(e) == key) return true;
    return false;
}

}  // namespace

std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& override_) {
    std::vector<std::string> out;
    std::vector<bool> unset;
    std::unordered_map<std::string_view, size_t> at;  // views into the inputs, which outlive this
    for (const auto* list : {&base, &override_})
        for (const auto& e : *list) {
            // An override without '=' unsets the name (docker's rule); a base entry without one
            // is kept as it is (an image's config is not ours to rewrite).
            bool drop = list == &override_ && e.find('=') == std::string::npos;
            auto [it, fresh] = at.try_emplace(key_of(e), out.size());
            if (fresh) {
                out.push_back(e);
                unset.push_back(drop);
            } else {
                out[it->second] = e;
                unset[it->second] = drop;
            }
        }
    std::vector<std::string> kept;
    kept.reserve(out.size());
    for (size_t i = 0; i < out.size(); ++i)
        if (!unset[i]) kept.push_back(std::move(out[i]));
    return kept;
}

std::vector<std::string> process_env(const std::vector<std::string>& config_env, const std::string& hostname,
                                     const std::string& home, bool tty,
                                     const std::vector<std::string>& overrides) {
    std::vector<std::string> head;
    if (!has_key(config_env, "PATH")) head.emplace_back(kDefaultPath);
    head.push_back("HOSTNAME=" + hostname);
    head.insert(head.end(), config_env.begin(), config_env.end());
    std::vector<std::string> env = merge_env(head, overrides);
    // HOME and TERM as the merged entries left them: an -e HOME=... or image TERM wins.
    bool home_set = has_key(env, "HOME"), term_set = has_key(env, "TERM");
    if (!home_set) env.push_back("HOME=" + home);
    if (tty && !term_set) env.emplace_back("TERM=xterm");
    return env;
}

}  // namespace lb
