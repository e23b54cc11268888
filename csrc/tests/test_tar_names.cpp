// Pure naming rules of the tar engine: whiteout names, xattr filters, archive path cleaning.
// Plain asserts (NDEBUG is undone: the tests build in Release like everything else).
#undef NDEBUG
#include <cassert>
#include <cstdio>
#include <string>

#include "layers/tar_common.hpp"
#include "layers/whiteout.hpp"

using namespace lb;

static std::string clean(const char* in) {
    std::string out;
    bool ok = clean_archive_path(in, &out);
    return ok ? out : std::string("<escape>");
}

static void test_whiteouts() {
    std::string t;
    assert(classify_whiteout("file") == WhiteoutKind::None);
    assert(classify_whiteout(".whfile") == WhiteoutKind::None);
    assert(classify_whiteout(".wh.file", &t) == WhiteoutKind::Delete && t == "file");
    assert(classify_whiteout(".wh..hidden", &t) == WhiteoutKind::Delete && t == ".hidden");
    assert(classify_whiteout(".wh..wh..opq") == WhiteoutKind::Opaque);
    assert(classify_whiteout(".wh..wh.plnk") == WhiteoutKind::Meta);
    assert(classify_whiteout(".wh..wh.aufs") == WhiteoutKind::Meta);
    assert(classify_whiteout(".wh.") == WhiteoutKind::Invalid);
    assert(classify_whiteout(".wh..") == WhiteoutKind::Invalid);
    assert(classify_whiteout(".wh...") == WhiteoutKind::Invalid);
    assert(whiteout_name("x") == ".wh.x");
    // A round trip through both forms names the same entry.
    assert(classify_whiteout(whiteout_name("some name"), &t) == WhiteoutKind::Delete && t == "some name");
    assert(is_overlay_whiteout(S_IFCHR | 0, 0));
    assert(!is_overlay_whiteout(S_IFCHR | 0666, (1u << 8) | 3));  // /dev/null-like: 1:3
    assert(!is_overlay_whiteout(S_IFBLK, 0));
    assert(!is_overlay_whiteout(S_IFREG, 0));
}

static void test_xattr_filters() {
    assert(is_overlay_xattr("trusted.overlay.opaque"));
    assert(is_overlay_xattr("trusted.overlay.redirect"));
    assert(is_overlay_xattr("user.overlay.opaque"));
    assert(!is_overlay_xattr("user.overlayx"));
    assert(!xattr_allowed_on_extract("trusted.overlay.opaque"));
    assert(!xattr_allowed_on_extract("trusted.anything"));
    assert(!xattr_allowed_on_extract("user.overlay.redirect"));
    assert(xattr_allowed_on_extract("user.mime_type"));
    assert(xattr_allowed_on_extract("security.capability"));
    assert(xattr_allowed_on_extract("system.posix_acl_access"));
    assert(!xattr_allowed_on_write("trusted.overlay.origin"));
    assert(!xattr_allowed_on_write("security.selinux"));
    assert(xattr_allowed_on_write("security.capability"));
    assert(xattr_allowed_on_write("user.x"));
}

static void test_clean_paths() {
    assert(clean("a/b/c") == "a/b/c");
    assert(clean("./a/b/") == "a/b");
    assert(clean("/abs/path") == "abs/path");           // absolute names land inside
    assert(clean("//a//b///c") == "a/b/c");
    assert(clean("a/./b/.") == "a/b");
    assert(clean("a/../b") == "b");
    assert(clean("a/b/../../c") == "c");
    assert(clean("./") == "");
    assert(clean("/") == "");
    assert(clean(".") == "");
    assert(clean("") == "");
    assert(clean("../escape") == "<escape>");
    assert(clean("a/../../x") == "<escape>");
    assert(clean("/../x") == "<escape>");               // no ".." above the top, even absolute
    assert(clean("a/b/../../../x") == "<escape>");
    assert(clean("..") == "<escape>");
    assert(clean("...") == "...");                      // only ".." itself is special
    assert(clean("..a/b") == "..a/b");
    assert(clean("a/..b") == "a/..b");
}

int main() {
    test_whiteouts();
    test_xattr_filters();
    test_clean_paths();
    std::puts("test_tar_names: ok");
    return 0;
}
