//! The editor's help pages for the three classes (Search Help, Ctrl+click on a class name).
//!
//! The pages are Godot class reference XML in `doc_classes/`, written against the skeleton that
//! `godot --doctool DIR --gdextension-docs` generates, and compiled into the library. Godot takes
//! an extension's docs through `editor_help_load_xml_from_utf8_chars_and_len`, an interface
//! function added in Godot 4.3. The addon is built against the 4.2 API (so that it loads in 4.2),
//! where gdext's `register-docs` is not available, so the function is looked up by name at
//! run time: in a 4.3+ editor the pages appear, in a 4.2 editor there are none, and games (no
//! editor) never reach this code.

use std::ffi::c_char;

/// The class reference pages, in the format of Godot's `doc/classes/*.xml`.
const CLASS_DOCS: [&str; 3] = [
    include_str!("../doc_classes/RustENetPeer.xml"),
    include_str!("../doc_classes/RustENetConnection.xml"),
    include_str!("../doc_classes/RustENetPacketPeer.xml"),
];

/// `GDExtensionInterfaceEditorHelpLoadXmlFromUtf8CharsAndLen` of `gdextension_interface.h`
/// (Godot 4.3): UTF-8 bytes and their length; Godot copies them before returning.
type LoadXmlFromUtf8CharsAndLen = unsafe extern "C" fn(p_data: *const c_char, p_size: i64);

/// Hands the class reference pages to the editor's help, if this Godot can take them.
///
/// Call only at the `Editor` initialization stage (main thread, binding initialized).
pub(crate) fn register_editor_docs() {
    // SAFETY: gdext has initialized the binding before any stage callback, and stage callbacks
    // run on the main thread; the name is a null-terminated byte string.
    let function = unsafe {
        godot::sys::get_ffi_ptr_by_cstr(b"editor_help_load_xml_from_utf8_chars_and_len\0")
    };
    let Some(function) = function else {
        // Godot 4.2 has no way to load extension docs.
        return;
    };
    // SAFETY: Godot 4.3 and later return this interface function under this name, with the
    // signature declared by `LoadXmlFromUtf8CharsAndLen`.
    let load = unsafe {
        std::mem::transmute::<unsafe extern "C" fn(), LoadXmlFromUtf8CharsAndLen>(function)
    };
    for xml in CLASS_DOCS {
        let len = i64::try_from(xml.len()).unwrap_or(i64::MAX);
        // SAFETY: `xml` is valid UTF-8 of `len` bytes that lives for the whole program, and
        // Godot reads it only during the call.
        unsafe { load(xml.as_ptr().cast::<c_char>(), len) };
    }
}
