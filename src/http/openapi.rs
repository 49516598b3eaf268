//! OpenAPI 3 documents of tern's two HTTP APIs, each made from the same list its routes are
//! registered from, so a document cannot drift from what is served: the admin API's
//! (`GET /api/v1/openapi.json`, [`super::API`]) and the customer API's
//! (`GET /v1/openapi.json`, [`super::customer::API`]).

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

/// An API to describe.
pub struct Api {
    /// Its title.
    pub title: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The path its routes are under.
    pub prefix: &'static str,
    /// Every route: method, path under `prefix`, what it does.
    pub routes: &'static [(&'static str, &'static str, &'static str)],
    /// The JSON schema of a route's request body, where it has one worth stating.
    pub body: fn(method: &str, path: &str) -> Option<Value>,
    /// Statuses a route may answer beside 200/400/401/404, as (method, path, status, meaning).
    pub statuses: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

/// The document of `api`.
pub fn spec(api: &Api) -> Value {
    let mut paths = Map::new();
    for (method, path, summary) in api.routes {
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
        for (m, p, status, meaning) in api.statuses {
            if m == method && p == path {
                op["responses"][*status] = json!({"description": meaning});
            }
        }
        if matches!(*method, "post" | "put") {
            let schema = (api.body)(method, path).unwrap_or_else(|| json!({"type": "object"}));
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        let entry = paths
            .entry(format!("{}{path}", api.prefix))
            .or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": api.title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": api.description,
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

/// The admin API.
pub const ADMIN: Api = Api {
    title: "tern admin API",
    description: "Accounts, balances, routes, carriers, messages and the audit trail of a tern SMS switch. Every change is durable at once; docs/api.md has an example per endpoint.",
    prefix: "/api/v1",
    routes: super::API,
    body: |_, _| None,
    statuses: &[],
};

pub(super) async fn document() -> HttpResponse {
    HttpResponse::Ok().json(spec(&ADMIN))
}
