//! `${VAR}` in any string of a configuration file, replaced from the environment before the
//! text is read as settings, so that passwords and tokens need not be written in the file (nor
//! in version control beside it). `$${` stands for a literal `${`. Pure but for the lookup,
//! which the caller passes in; the values found are never part of an error message.

use toml::{Table, Value};

/// Replaces every `${NAME}` in the strings of `table` (keys are left alone) with
/// `lookup(NAME)`, and returns the values it put in (so that a later message that quotes one,
/// a type error, can hide it: `hide`). An unset variable, or a `${` without its `}`, is an error
/// naming the key (`mqtt.password`) and the variable.
pub fn substitute(
    table: &mut Table,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for (key, value) in table.iter_mut() {
        substitute_value(value, key, lookup, &mut found)?;
    }
    Ok(found)
}

/// `message` with every value that came from the environment replaced by a placeholder.
pub fn hide(message: String, values: &[String]) -> String {
    values
        .iter()
        .filter(|v| !v.is_empty())
        .fold(message, |m, v| {
            m.replace(v.as_str(), "<from the environment>")
        })
}

fn substitute_value(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    found: &mut Vec<String>,
) -> Result<(), String> {
    match value {
        Value::String(s) if s.contains("${") => *s = expand(s, path, lookup, found)?,
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_value(item, &format!("{path}[{i}]"), lookup, found)?;
            }
        }
        Value::Table(t) => {
            for (key, item) in t.iter_mut() {
                substitute_value(item, &format!("{path}.{key}"), lookup, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand(
    s: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    found: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${` is a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}').ok_or_else(|| {
            format!("{path}: '${{' without a closing '}}' (write $${{ for a literal ${{)")
        })?;
        let name = &after[..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "{path}: '${{{name}}}' is not an environment variable's name (letters, digits, _)"
            ));
        }
        let value = lookup(name)
            .ok_or_else(|| format!("{path}: ${{{name}}} is not set in the environment"))?;
        out.push_str(&value);
        found.push(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "MQTT_PASSWORD" => Some("hunter2".into()),
            "CAM_USER" => Some("admin".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<Table, String> {
        let mut table: Table = text.parse().unwrap();
        substitute(&mut table, &env).map(|_| table)
    }

    #[test]
    fn variables_are_replaced_in_every_string_however_deep() {
        let t = run(concat!(
            "[mqtt]\npassword = \"${MQTT_PASSWORD}\"\nport = 1883\n",
            "[cameras.gate]\nurl = \"rtsp://${CAM_USER}:${MQTT_PASSWORD}@host/x\"\n",
            "names = [\"a${EMPTY}b\"]\n",
        ))
        .unwrap();
        assert_eq!(t["mqtt"]["password"].as_str(), Some("hunter2"));
        assert_eq!(t["mqtt"]["port"].as_integer(), Some(1883));
        assert_eq!(
            t["cameras"]["gate"]["url"].as_str(),
            Some("rtsp://admin:hunter2@host/x")
        );
        assert_eq!(t["cameras"]["gate"]["names"][0].as_str(), Some("ab"));
    }

    #[test]
    fn an_unset_variable_names_the_key_and_the_variable_never_a_value() {
        let err =
            run("[cameras.gate]\nurl = \"rtsp://${CAM_USER}:${CAM_PASSWORD}@h/x\"\n").unwrap_err();
        assert_eq!(
            err,
            "cameras.gate.url: ${CAM_PASSWORD} is not set in the environment"
        );
        assert!(!err.contains("admin"));
        let err = run("[x]\nlist = [1, \"${NOPE}\"]\n").unwrap_err();
        assert!(err.starts_with("x.list[1]: ${NOPE}"), "{err}");
    }

    #[test]
    fn values_from_the_environment_are_hidden_in_later_messages() {
        let mut table: Table = "a = \"${MQTT_PASSWORD}\"\n".parse().unwrap();
        let found = substitute(&mut table, &env).unwrap();
        let said = hide("a: invalid type: string \"hunter2\"".into(), &found);
        assert_eq!(said, "a: invalid type: string \"<from the environment>\"");
    }

    #[test]
    fn a_doubled_dollar_is_a_literal_and_a_broken_reference_an_error() {
        let t = run("a = \"cost $${MQTT_PASSWORD} and $5\"\n").unwrap();
        assert_eq!(t["a"].as_str(), Some("cost ${MQTT_PASSWORD} and $5"));
        assert!(run("a = \"${MQTT_PASSWORD\"\n")
            .unwrap_err()
            .contains("without a closing"));
        assert!(run("a = \"${1X}\"\n").unwrap_err().contains("'${1X}'"));
    }
}
