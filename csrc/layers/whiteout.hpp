// Whiteouts: how a layer says "this was deleted", in the two forms we meet.
//
// In a layer tar (OCI image spec, inherited from AUFS): an empty file ".wh.NAME" deletes NAME
// from the layers below; ".wh..wh..opq" in a directory hides everything below it in the layers
// underneath (an opaque directory); other ".wh..wh.*" names are AUFS bookkeeping and ignored.
// In an overlayfs layer directory: a character device 0/0 named NAME, and the xattr
// trusted.overlay.opaque="y" on the directory. Extraction turns the first form into the second,
// writing a layer turns the second into the first.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

namespace lb {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
inline constexpr std::string_view kWhiteoutOpaque = ".wh..wh..opq";
inline constexpr const char* kOverlayOpaqueXattr = "trusted.overlay.opaque";

enum class WhiteoutKind {
    None,    // an ordinary name
    Delete,  // ".wh.NAME": `target` is NAME
    Opaque,  // ".wh..wh..opq"
    Meta,    // other ".wh..wh.*": AUFS metadata, skipped
    Invalid  // ".wh.", ".wh..", ".wh...": names nothing we could delete
};

// Classifies the last component of an archive path.
WhiteoutKind classify_whiteout(std::string_view name, std::string* target = nullptr);

// ".wh." + name (the tar name of an overlay whiteout called `name`).
std::string whiteout_name(std::string_view name);

// An overlay whiteout: a character device with device number 0/0.
inline bool is_overlay_whiteout(mode_t mode, dev_t rdev) { return S_ISCHR(mode) && rdev == 0; }

// Extended attributes that belong to overlayfs itself (trusted.overlay.*, and user.overlay.*
// used by unprivileged overlay mounts). They describe the layer to the kernel (opaque,
// redirect, metacopy, origin, ...), so they are never copied from a tar into a layer nor from
// a layer into a tar: the opaque marker travels as ".wh..wh..opq" instead.
bool is_overlay_xattr(std::string_view name);

// Xattrs an archive may set on extraction: not the overlay ones and no other trusted.* either
// (privileged metadata no image has a business setting); user.*, security.* (capabilities) and
// system.* (POSIX ACLs) pass.
bool xattr_allowed_on_extract(std::string_view name);

// Xattrs written into a layer tar: everything except trusted.* (overlay's own and other
// privileged data) and security.selinux (a label of this host, not of the image; docker does
// not carry it either).
bool xattr_allowed_on_write(std::string_view name);

}  // namespace lb
