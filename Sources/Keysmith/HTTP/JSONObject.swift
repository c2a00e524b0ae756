import Foundation
import Hummingbird

/// A request body read as one JSON object, field by field, so that every mistake gets its own message:
/// not an object, an unknown field, a field of the wrong type.
struct JSONObject {
    private var fields: [String: JSONValue]

    /// Reads at most `RequestBodyLimit.bytes` of the body (413 past that) and parses one JSON object.
    static func read(from request: Request, context: some RequestContext, limit: Int? = nil) async throws -> JSONObject {
        let buffer = try await request.body.collect(upTo: limit ?? context.maxUploadSize)
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: buffer)),
              case .object(let fields) = value
        else { throw APIError.badRequest("request body must be a JSON object") }
        return JSONObject(fields: fields)
    }

    /// As `read`, but an empty body is an empty object: for requests whose fields all have defaults.
    static func readAllowingEmpty(from request: Request, context: some RequestContext) async throws -> JSONObject {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        if buffer.readableBytes == 0 || buffer.readableBytesView.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            return JSONObject(fields: [:])
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: buffer)),
              case .object(let fields) = value
        else { throw APIError.badRequest("request body must be a JSON object") }
        return JSONObject(fields: fields)
    }

    /// Rejects fields not in `allowed`, so a misspelt field is not silently ignored.
    func requireOnly(_ allowed: Set<String>) throws {
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.badRequest("unknown field '\(unknown)'; allowed fields are \(allowed.sorted().joined(separator: ", "))")
        }
    }

    func has(_ field: String) -> Bool { fields[field] != nil }

    /// The first field (in sorted order) not in `allowed`.
    func unknownField(allowed: Set<String>) -> String? {
        fields.keys.sorted().first { !allowed.contains($0) }
    }

    /// A string field: absent is `nil`, `null` is `.some(nil)`, anything but a string is a 400.
    func string(_ field: String) throws -> String?? {
        switch fields[field] {
        case nil: return nil
        case .null?: return .some(nil)
        case .string(let value)?: return .some(value)
        default: throw APIError.badRequest("'\(field)' must be a string")
        }
    }

    /// A boolean field: absent or `null` is `nil`, anything but a boolean is a 400.
    func bool(_ field: String) throws -> Bool? {
        switch fields[field] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw APIError.badRequest("'\(field)' must be true or false")
        }
    }

    /// An array of strings: absent is `nil`, anything else is a 400.
    func strings(_ field: String) throws -> [String]? {
        switch fields[field] {
        case nil: return nil
        case .array(let items)?:
            return try items.map { item in
                guard case .string(let value) = item else { throw APIError.badRequest("'\(field)' must be an array of strings") }
                return value
            }
        default: throw APIError.badRequest("'\(field)' must be an array of strings")
        }
    }

    /// An array of objects: absent is `nil`, anything else is a 400.
    func objects(_ field: String) throws -> [JSONObject]? {
        switch fields[field] {
        case nil: return nil
        case .array(let items)?:
            return try items.map { item in
                guard case .object(let fields) = item else { throw APIError.badRequest("'\(field)' must be an array of objects") }
                return JSONObject(fields: fields)
            }
        default: throw APIError.badRequest("'\(field)' must be an array of objects")
        }
    }

    /// A nested object: absent is `nil`, `null` is `.some(nil)`, anything else is a 400.
    func object(_ field: String) throws -> JSONObject?? {
        switch fields[field] {
        case nil: return nil
        case .null?: return .some(nil)
        case .object(let fields)?: return .some(JSONObject(fields: fields))
        default: throw APIError.badRequest("'\(field)' must be an object or null")
        }
    }

    /// A whole number: absent or `null` is `nil`; a fraction or anything but a number is a 400.
    func integer(_ field: String, in path: String? = nil) throws -> Int? {
        let name = path.map { "\($0).\(field)" } ?? field
        switch fields[field] {
        case nil, .null?: return nil
        case .number(let value)?:
            guard value.rounded() == value, abs(value) <= 9_007_199_254_740_991 else { throw APIError.badRequest("'\(name)' must be an integer") }
            return Int(value)
        default: throw APIError.badRequest("'\(name)' must be an integer")
        }
    }

    /// An array of strings that may also be `null`: absent is `nil`, `null` is `.some(nil)`.
    func nullableStrings(_ field: String) throws -> [String]?? {
        if case .null? = fields[field] { return .some(nil) }
        return try strings(field).map { .some($0) }
    }

    /// A string field accepted under two spellings (snake_case and seed 004's camelCase), never both.
    func string(_ field: String, or alias: String) throws -> String?? {
        if has(field) && has(alias) { throw APIError.badRequest("give '\(field)' or '\(alias)', not both") }
        return try has(alias) ? string(alias) : string(field)
    }
}

extension JSONObject {
    /// The most a key's `metadata` may hold, as stored (compact JSON).
    static let metadataLimit = 4096

    /// `metadata`: absent is `nil`, `null` clears (`.some(nil)`), an object is kept as compact JSON with its
    /// keys sorted (at most 64 members, 4 KiB, nested at most 8 deep); anything else is a 400.
    func metadata(_ field: String = "metadata") throws -> String?? {
        switch fields[field] {
        case nil: return nil
        case .null?: return .some(nil)
        case .object(let members)?:
            guard members.count <= 64 else { throw APIError.badRequest("'\(field)' may have at most 64 members") }
            var json = JSONWriter(capacity: 256)
            guard fields[field]!.write(to: &json, depth: 0) else { throw APIError.badRequest("'\(field)' may be nested at most 8 levels deep") }
            guard json.bytes.count <= Self.metadataLimit else {
                throw APIError.badRequest("'\(field)' must be at most \(Self.metadataLimit) bytes of JSON; it is \(json.bytes.count)")
            }
            return .some(json.text)
        default: throw APIError.badRequest("'\(field)' must be a JSON object or null")
        }
    }
}

extension JSONValue {
    /// Compact JSON; integers without a fraction, object keys sorted. `false` past 8 levels of nesting.
    func write(to json: inout JSONWriter, depth: Int) -> Bool {
        guard depth < 8 else { return false }
        var fits = true
        switch self {
        case .null: json.null()
        case .bool(let value): json.raw(value ? "true" : "false")
        case .number(let value):
            if value.rounded() == value && abs(value) < 9_007_199_254_740_992 { json.raw(String(Int64(value))) } else { json.raw("\(value)") }
        case .string(let value): json.string(value)
        case .array(let items):
            json.array(items) { json, item in fits = item.write(to: &json, depth: depth + 1) && fits }
        case .object(let members):
            json.object { json in
                for (name, value) in members.sorted(by: { $0.key < $1.key }) {
                    json.dynamicKey(name)
                    fits = value.write(to: &json, depth: depth + 1) && fits
                }
            }
        }
        return fits
    }
}

enum JSONValue: Decodable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // The commonest kinds of a request body first: each wrong guess is a thrown DecodingError, which
        // showed in bulk-load profiles (docs/performance.md).
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([String: JSONValue].self) { self = .object(value) }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else { self = .array(try container.decode([JSONValue].self)) }
    }
}
