//! Typed columns. Code lists stored as text: each domain code enum (`domain::code_enum!`) is read
//! and written through its one string form here. JSON stored as text: `Json<T>` reads and writes
//! it as `T`. So no layer above `store` parses a stored code or stored JSON.

use crate::domain::{
    answering::{EntryMode, ResponseStatus},
    participant::EventKind,
    reminders::ReminderStatus,
    schedule::VisitState,
};

macro_rules! text_column {
    ($($name:ty),+ $(,)?) => {$(
        impl From<$name> for sea_orm::Value {
            fn from(v: $name) -> Self {
                v.as_str().to_string().into()
            }
        }

        impl sea_orm::TryGetable for $name {
            fn try_get_by<I: sea_orm::ColIdx>(
                res: &sea_orm::QueryResult,
                idx: I,
            ) -> Result<Self, sea_orm::TryGetError> {
                let text = String::try_get_by(res, idx)?;
                text.parse().map_err(|e: crate::domain::UnknownCode| {
                    sea_orm::TryGetError::DbErr(sea_orm::DbErr::TryIntoErr {
                        from: "String",
                        into: stringify!($name),
                        source: std::sync::Arc::new(e),
                    })
                })
            }
        }

        impl sea_orm::sea_query::ValueType for $name {
            fn try_from(v: sea_orm::Value) -> Result<Self, sea_orm::sea_query::ValueTypeErr> {
                let text = <String as sea_orm::sea_query::ValueType>::try_from(v)?;
                text.parse().map_err(|_| sea_orm::sea_query::ValueTypeErr)
            }

            fn type_name() -> String {
                stringify!($name).to_owned()
            }

            fn array_type() -> sea_orm::sea_query::ArrayType {
                sea_orm::sea_query::ArrayType::String
            }

            fn column_type() -> sea_orm::sea_query::ColumnType {
                sea_orm::sea_query::ColumnType::String(sea_orm::sea_query::StringLen::None)
            }
        }

        impl sea_orm::sea_query::Nullable for $name {
            fn null() -> sea_orm::Value {
                sea_orm::Value::String(None)
            }
        }

        impl sea_orm::IntoActiveValue<$name> for $name {
            fn into_active_value(self) -> sea_orm::ActiveValue<$name> {
                sea_orm::ActiveValue::Set(self)
            }
        }
    )+};
}

text_column!(
    ResponseStatus,
    EntryMode,
    ReminderStatus,
    EventKind,
    VisitState
);

/// A value stored as JSON text (the column stays TEXT on SQLite and PostgreSQL). Reading text
/// that is not a `T` is a database error naming the type, never a silent default.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::Serialize> Json<T> {
    /// The stored text.
    pub fn text(&self) -> String {
        // Serializing plain data (strings, maps, numbers) cannot fail.
        serde_json::to_string(&self.0).unwrap_or_default()
    }
}

impl<T: serde::Serialize> From<Json<T>> for sea_orm::Value {
    fn from(v: Json<T>) -> Self {
        v.text().into()
    }
}

impl<T: serde::de::DeserializeOwned> sea_orm::TryGetable for Json<T> {
    fn try_get_by<I: sea_orm::ColIdx>(
        res: &sea_orm::QueryResult,
        idx: I,
    ) -> Result<Self, sea_orm::TryGetError> {
        let text = String::try_get_by(res, idx)?;
        serde_json::from_str(&text).map(Json).map_err(|e| {
            sea_orm::TryGetError::DbErr(sea_orm::DbErr::TryIntoErr {
                from: "String",
                into: std::any::type_name::<T>(),
                source: std::sync::Arc::new(e),
            })
        })
    }
}

impl<T: serde::de::DeserializeOwned> sea_orm::sea_query::ValueType for Json<T> {
    fn try_from(v: sea_orm::Value) -> Result<Self, sea_orm::sea_query::ValueTypeErr> {
        let text = <String as sea_orm::sea_query::ValueType>::try_from(v)?;
        serde_json::from_str(&text)
            .map(Json)
            .map_err(|_| sea_orm::sea_query::ValueTypeErr)
    }

    fn type_name() -> String {
        format!("Json<{}>", std::any::type_name::<T>())
    }

    fn array_type() -> sea_orm::sea_query::ArrayType {
        sea_orm::sea_query::ArrayType::String
    }

    fn column_type() -> sea_orm::sea_query::ColumnType {
        sea_orm::sea_query::ColumnType::Text
    }
}

impl<T> sea_orm::sea_query::Nullable for Json<T> {
    fn null() -> sea_orm::Value {
        sea_orm::Value::String(None)
    }
}

impl<T: serde::Serialize> sea_orm::IntoActiveValue<Json<T>> for Json<T> {
    fn into_active_value(self) -> sea_orm::ActiveValue<Json<T>> {
        sea_orm::ActiveValue::Set(self)
    }
}
