//! Crate-internal declaration helpers.

/// Declares a struct whose fields each carry their default value, and the `Default` impl that
/// gives every field that value: `field: Type = value,`, the syntax of Rust's unstable
/// `default_field_values`. For structs whose defaults are not all the types' own (ENet's
/// constants), so that each value stands next to its field.
macro_rules! struct_with_defaults {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                $field_vis:vis $field:ident: $ty:ty = $default:expr,
            )*
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $(
                $(#[$field_attr])*
                $field_vis $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($field: $default,)*
                }
            }
        }
    };
}
