// The shop's whole journey from Node: register, verify, log in, browse, order a basket, refund
// a line and the rest, and two failures read through their error details. Exits non-zero at the first surprise.
//
//   USERS=localhost:50051 INVENTORY=localhost:50052 PAYMENTS=localhost:50053 \
//   ESTORE_MAIL_OUTBOX=.estore/outbox.jsonl node journey.js
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { estoreClients, estoreError, signedIn } from "./estore.js";
import { ErrorReason } from "./gen/estore/common/v1/error_reason_pb.js";
import { OrderSchema, OrderStatus, PaymentMethodType } from "./gen/estore/payments/v1/payment_service_pb.js";

const env = process.env;
const outbox = env.ESTORE_MAIL_OUTBOX ?? `${env.ESTORE_DATA_DIR ?? ".estore"}/outbox.jsonl`;
const admin = {
  email: env.ADMIN_EMAIL ?? "admin@example.com",
  password: env.ADMIN_PASSWORD ?? "admin-password",
};
const { users, inventory, payments } = estoreClients({
  users: env.USERS,
  inventory: env.INVENTORY,
  payments: env.PAYMENTS,
});
const usd = (minorUnits) => ({ currencyCode: "USD", minorUnits });

/** The newest verification token mailed to `email` (the outbox stands in for the inbox). */
async function verificationToken(email) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const mails = readFileSync(outbox, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const mail = mails.reverse().find((m) => m.to === email && m.kind === "verify_email");
    if (mail) return mail.token;
    await sleep(100);
  }
  throw new Error(`no verification mail to ${email} in ${outbox}`);
}

/** Run `call`, which must fail; return what its error details say. */
async function failure(call) {
  try {
    await call();
  } catch (err) {
    return estoreError(err);
  }
  assert.fail("the call should have failed");
}

const run = randomUUID().slice(0, 8);

// A shopper registers, verifies the address from the mail, and signs in.
const email = `ana.${run}@example.com`;
await users.register({ email, password: "correct horse" });
await users.verifyEmail({ token: await verificationToken(email) });
const ana = await users.login({ email, password: "correct horse" });
assert.equal(ana.user.isVerified, true);
assert.equal(typeof ana.user.id, "bigint"); // int64 is a BigInt here, a string in JSON
const asAna = signedIn(ana.accessToken);

// The admin stocks the shop (money is integer minor units: 1250n is USD 12.50).
const asAdmin = signedIn((await users.login(admin)).accessToken);
const { category } = await inventory.createCategory({ category: { name: `Tea ${run}` } }, asAdmin);
const { product } = await inventory.createProduct(
  {
    product: {
      name: `Sencha ${run}`,
      categoryId: category.id,
      price: usd(1250n),
      quantity: 20,
      discountPercentage: 10,
    },
  },
  asAdmin,
);
const teapot = (
  await inventory.createProduct(
    { product: { name: `Kyusu ${run}`, categoryId: category.id, price: usd(2400n), quantity: 5 } },
    asAdmin,
  )
).product;

// Anyone browses.
const page = await inventory.listProducts({
  filter: { categoryId: category.id, query: "sencha", inStock: true },
  orderBy: "price desc",
});
assert.deepEqual(page.products.map((p) => p.id), [product.id]);
const shown = (await inventory.getProduct({ productId: product.id })).product;
assert.equal(shown.effectivePrice.minorUnits, 1125n);

// A malformed request: INVALID_ARGUMENT, with the field named in BadRequest.
const badPage = await failure(() => inventory.listProducts({ pageSize: -1 }));
assert.equal(badPage.code, Code.InvalidArgument);
assert.equal(badPage.errorReason, ErrorReason.INVALID_FIELD);
assert.equal(badPage.domain, "estore.inventory");
assert.deepEqual(badPage.violations.map((v) => v.field), ["page_size"]);

// Ana adds a card and orders a basket: 3 sencha at 11.25 and a teapot at 24.00 = 57.75,
// one fee of 2.89 on the sum, total 60.64, charged once.
const { paymentMethod } = await payments.addPaymentMethod(
  {
    type: PaymentMethodType.CARD,
    card: { number: "4242 4242 4242 4242", expMonth: 12, expYear: 2031, cvc: "123" },
  },
  asAna,
);
assert.equal(paymentMethod.details.last4, "4242");

// More than the shelf holds on one line: FAILED_PRECONDITION INSUFFICIENT_STOCK, naming the
// line; nothing is held for the other.
const tooMany = await failure(() =>
  payments.createOrder(
    {
      items: [
        { productId: product.id, quantity: 1 },
        { productId: teapot.id, quantity: 1000 },
      ],
      paymentMethodId: paymentMethod.id,
    },
    asAna,
  ),
);
assert.equal(tooMany.code, Code.FailedPrecondition);
assert.equal(tooMany.errorReason, ErrorReason.INSUFFICIENT_STOCK);
assert.equal((await inventory.getProduct({ productId: product.id })).product.reserved, 0);

const { order } = await payments.createOrder(
  {
    items: [
      { productId: product.id, quantity: 3 },
      { productId: teapot.id, quantity: 1 },
    ],
    paymentMethodId: paymentMethod.id,
    requestId: `order-${run}`,
  },
  asAna,
);
assert.equal(order.status, OrderStatus.PAID);
assert.deepEqual(
  order.items.map((i) => [i.productId, i.quantity, i.price.minorUnits]),
  [
    [product.id, 3, 3375n],
    [teapot.id, 1, 2400n],
  ],
);
assert.equal(order.fee.minorUnits, 289n);
assert.equal(order.total.minorUnits, 6064n);

// The admin refunds the teapot's line (24.00 and its share of the fee, 1.20) and puts it back...
const partly = (
  await payments.refundOrder(
    { orderId: order.id, items: [{ productId: teapot.id, quantity: 1 }], reason: "wrong size", restock: true },
    asAdmin,
  )
).order;
assert.equal(partly.status, OrderStatus.PARTIALLY_REFUNDED);
assert.equal(partly.refundAmount.minorUnits, 2520n);
assert.equal((await inventory.getProduct({ productId: teapot.id })).product.quantity, 5);
// ...then the rest, putting the three sencha back on the shelf.
const refunded = (await payments.refundOrder({ orderId: order.id, reason: "returned", restock: true }, asAdmin))
  .order;
assert.equal(refunded.status, OrderStatus.REFUNDED);
assert.equal(refunded.refundAmount.minorUnits, 6064n);
assert.equal((await inventory.getProduct({ productId: product.id })).product.quantity, 20);
assert.equal((await inventory.getProduct({ productId: teapot.id })).product.quantity, 5);

console.log(
  JSON.stringify({
    journey: "ok",
    order: toJson(OrderSchema, refunded),
    errors: [badPage, tooMany].map(({ code, reason, violations }) => ({ code: Code[code], reason, violations })),
  }),
);
