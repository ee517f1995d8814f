// EStore clients for Node: the stubs generated from protos/ (gen/, by `npm run generate`) called
// with Connect over gRPC, and the decoding of EStore's error details.
import { createClient, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorReason } from "./gen/estore/common/v1/error_reason_pb.js";
import { InventoryService } from "./gen/estore/inventory/v1/inventory_service_pb.js";
import { PaymentService } from "./gen/estore/payments/v1/payment_service_pb.js";
import { UserService } from "./gen/estore/users/v1/user_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** A client of `service` at `target` ("host:port"), plaintext gRPC over HTTP/2. */
function connect(service, target) {
  const transport = createGrpcTransport({ baseUrl: `http://${target}` });
  return createClient(service, transport);
}

/** The three services, at the addresses given (defaults: `estore up`'s ports). */
export function estoreClients({
  users = "localhost:50051",
  inventory = "localhost:50052",
  payments = "localhost:50053",
} = {}) {
  return {
    users: connect(UserService, users),
    inventory: connect(InventoryService, inventory),
    payments: connect(PaymentService, payments),
  };
}

/** Call options that send a bearer token. */
export function signedIn(accessToken) {
  return { headers: { authorization: `Bearer ${accessToken}` } };
}

/**
 * What an EStore failure says: the gRPC code, the ErrorInfo (reason, domain, metadata), the
 * reason as an ErrorReason value (undefined for a reason newer than these stubs), and the
 * BadRequest field violations (INVALID_ARGUMENT, and a basket's failing line).
 */
export function estoreError(err) {
  const error = ConnectError.from(err);
  const [info] = error.findDetails(ErrorInfoSchema);
  const violations = error.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations);
  return {
    code: error.code,
    message: error.rawMessage,
    reason: info?.reason,
    errorReason: info ? ErrorReason[info.reason] : undefined,
    domain: info?.domain,
    metadata: info?.metadata ?? {},
    violations: violations.map((v) => ({ field: v.field, description: v.description })),
  };
}
