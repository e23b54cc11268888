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

std::vector<std::string> config_env(const std::vector<std::string>& image_env, const std::vector<std::string>& user_env) {
    std::vector<std::string> out(user_env);
    for (const auto& e : image_env)
        if (!has_key(user_env, key_of(e))) out.push_back(e);
    return out;
}

std::vector<std::string> process_env(const std::vector<std::string>& config_env, const std::string& hostname,
                                     const std::string& home, bool tty,
                                     const std::vector<std::string>& overrides) {
    std::vector<std::string> defaults{kDefaultPath, "HOSTNAME=" + hostname};
    if (tty) defaults.emplace_back("TERM=xterm");
    std::vector<std::string> env = merge_env(merge_env(defaults, config_env), overrides);
    if (!has_key(env, "HOME")) env.push_back("HOME=" + home);  // an -e HOME=... wins
    return env;
}

}  // namespace lb
