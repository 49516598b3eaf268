//! `GET /openapi.json`: the admin API as an OpenAPI 3 document, made from the same list
//! the routes are registered from ([`super::API`]).

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

/// The document.
pub fn spec() -> Value {
    let mut paths = Map::new();
    for (method, path, summary) in super::API {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "done"},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        });
        if matches!(*method, "post" | "put") {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths
            .entry(format!("/api/v1{path}"))
            .or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "tern admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, balances, routes, carriers, messages and the audit trail of a tern SMS switch. Every change is durable at once; docs/api.md has an example per endpoint.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {
                "description": "{\"error\": {\"code\", \"message\"}}",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}}}},
                }}},
            }},
        },
    })
}

pub(super) async fn document() -> HttpResponse {
    HttpResponse::Ok().json(spec())
}
