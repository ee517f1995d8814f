"""InventoryService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from estore.common.context import current_caller
from estore.common.errors import DomainError
from estore.common.status import to_status_proto
from estore.inventory import codec_proto, codec_wire
from estore.inventory.service_categories import CategoryService
from estore.inventory.service_products import ProductService
from estore.inventory.service_stock import ReserveEntry, StockService
from estore.inventory.service_watch import WatchService
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc

Ctx = Any  # grpc.aio.ServicerContext; untyped in grpcio
DOMAIN = "estore.inventory"  # the ErrorInfo domain of a batch entry's error, as the interceptor's


class InventoryServicer(inventory_grpc.InventoryServiceServicer):
    """Every InventoryService RPC; the caller's token is checked even on public reads."""

    def __init__(
        self,
        products: ProductService,
        stock: StockService,
        categories: CategoryService,
        watches: WatchService,
        *,
        currency: str,
    ) -> None:
        self._products = products
        self._stock = stock
        self._categories = categories
        self._watches = watches
        self._currency = currency
        self._cache = products.cache

    def _product(self, product: Any) -> pb.Product:
        return codec_proto.product_to_proto(product, self._currency)

    @contextlib.contextmanager
    def _changing(self, product_id: str) -> Iterator[None]:
        """Around a stock write: this instance's cache forgets the product at once, whatever the
        outcome (read-your-writes here; other instances learn it from the event stream)."""
        try:
            yield
        finally:
            if product_id:
                self._cache.stock_changed(product_id)

    @contextlib.contextmanager
    def _changing_many(self, product_ids: list[str]) -> Iterator[None]:
        """Around a batch of stock writes: as `_changing`, for each product named."""
        try:
            yield
        finally:
            for product_id in product_ids:
                if product_id:
                    self._cache.stock_changed(product_id)

    def _reservation(self, reservation: Any) -> pb.Reservation:
        return codec_proto.reservation_to_proto(reservation, self._currency)

    async def CreateProduct(
        self, request: pb.CreateProductRequest, context: Ctx
    ) -> pb.CreateProductResponse:
        draft = codec_proto.product_from_proto(request.product)
        created = await self._products.create_product(current_caller(), draft)
        return pb.CreateProductResponse(product=self._product(created))

    # GetProduct and ListProducts answer with the serialized response (codec_wire.py): their
    # handlers are registered with a serializer that sends bytes as they are.
    async def GetProduct(self, request: pb.GetProductRequest, context: Ctx) -> bytes:
        current_caller()
        entry = await self._products.product_entry(request.product_id)
        return codec_wire.get_product_response(entry)

    async def ListProducts(self, request: pb.ListProductsRequest, context: Ctx) -> bytes:
        current_caller()
        entries, token = await self._products.list_entries(
            codec_proto.filter_from_proto(request.filter),
            request.order_by,
            request.page_size,
            request.page_token,
        )
        return codec_wire.list_products_response(entries, token)

    async def UpdateProduct(
        self, request: pb.UpdateProductRequest, context: Ctx
    ) -> pb.UpdateProductResponse:
        updated = await self._products.update_product(
            current_caller(),
            request.product.id,
            codec_proto.product_from_proto(request.product),
            frozenset(request.update_mask.paths),
        )
        return pb.UpdateProductResponse(product=self._product(updated))

    async def DeleteProduct(
        self, request: pb.DeleteProductRequest, context: Ctx
    ) -> pb.DeleteProductResponse:
        await self._products.delete_product(current_caller(), request.product_id)
        return pb.DeleteProductResponse()

    async def AdjustStock(
        self, request: pb.AdjustStockRequest, context: Ctx
    ) -> pb.AdjustStockResponse:
        with self._changing(request.product_id):
            product = await self._stock.adjust_stock(
                current_caller(),
                request.product_id,
                request.delta,
                request.reason,
                request.request_id,
            )
        return pb.AdjustStockResponse(product=self._product(product))

    async def ReserveStock(
        self, request: pb.ReserveStockRequest, context: Ctx
    ) -> pb.ReserveStockResponse:
        ttl_ms = request.ttl.ToMilliseconds() if request.HasField("ttl") else None
        with self._changing(request.product_id):
            reservation = await self._stock.reserve_stock(
                current_caller(),
                request.product_id,
                request.quantity,
                request.reservation_id,
                ttl_ms,
                request.request_id,
            )
        return pb.ReserveStockResponse(reservation=self._reservation(reservation))

    async def CommitReservation(
        self, request: pb.CommitReservationRequest, context: Ctx
    ) -> pb.CommitReservationResponse:
        with self._changing(request.product_id):
            reservation = await self._stock.commit_reservation(
                current_caller(), request.reservation_id, request.product_id
            )
        self._cache.stock_changed(reservation.product_id)
        return pb.CommitReservationResponse(reservation=self._reservation(reservation))

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Ctx
    ) -> pb.ReleaseReservationResponse:
        with self._changing(request.product_id):
            reservation = await self._stock.release_reservation(
                current_caller(), request.reservation_id, request.product_id
            )
        self._cache.stock_changed(reservation.product_id)
        return pb.ReleaseReservationResponse(reservation=self._reservation(reservation))

    async def BatchReserveStock(
        self, request: pb.BatchReserveStockRequest, context: Ctx
    ) -> pb.BatchReserveStockResponse:
        entries = [
            ReserveEntry(
                e.product_id,
                e.quantity,
                e.reservation_id,
                e.ttl.ToMilliseconds() if e.HasField("ttl") else None,
                e.request_id,
            )
            for e in request.entries
        ]
        with self._changing_many([e.product_id for e in entries]):
            answers = await self._stock.reserve_many(current_caller(), entries)
        return pb.BatchReserveStockResponse(results=self._results(answers))

    async def BatchCommitReservations(
        self, request: pb.BatchCommitReservationsRequest, context: Ctx
    ) -> pb.BatchCommitReservationsResponse:
        entries = [(e.reservation_id, e.product_id) for e in request.entries]
        with self._changing_many([product_id for _, product_id in entries]):
            answers = await self._stock.commit_many(current_caller(), entries)
        return pb.BatchCommitReservationsResponse(results=self._results(answers))

    async def BatchReleaseReservations(
        self, request: pb.BatchReleaseReservationsRequest, context: Ctx
    ) -> pb.BatchReleaseReservationsResponse:
        entries = [(e.reservation_id, e.product_id) for e in request.entries]
        with self._changing_many([product_id for _, product_id in entries]):
            answers = await self._stock.release_many(current_caller(), entries)
        return pb.BatchReleaseReservationsResponse(results=self._results(answers))

    def _results(self, answers: list[Any]) -> list[pb.BatchReservationResult]:
        for answer in answers:  # a commit or release that did not name its product
            if not isinstance(answer, DomainError):
                self._cache.stock_changed(answer.product_id)
        return [
            pb.BatchReservationResult(error=to_status_proto(answer, DOMAIN))
            if isinstance(answer, DomainError)
            else pb.BatchReservationResult(reservation=self._reservation(answer))
            for answer in answers
        ]

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: Ctx
    ) -> pb.CreateCategoryResponse:
        created = await self._categories.create_category(
            current_caller(), codec_proto.category_from_proto(request.category)
        )
        return pb.CreateCategoryResponse(category=codec_proto.category_to_proto(created))

    async def GetCategory(
        self, request: pb.GetCategoryRequest, context: Ctx
    ) -> pb.GetCategoryResponse:
        current_caller()
        found = await self._categories.get_category(request.category_id)
        return pb.GetCategoryResponse(category=codec_proto.category_to_proto(found))

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Ctx
    ) -> pb.ListCategoriesResponse:
        current_caller()
        parent_id = request.parent_id if request.HasField("parent_id") else None
        page = await self._categories.list_categories(
            parent_id, request.page_size, request.page_token
        )
        return pb.ListCategoriesResponse(
            categories=[codec_proto.category_to_proto(c) for c in page.categories],
            next_page_token=page.next_page_token,
        )

    async def UpdateCategory(
        self, request: pb.UpdateCategoryRequest, context: Ctx
    ) -> pb.UpdateCategoryResponse:
        updated = await self._categories.update_category(
            current_caller(),
            codec_proto.category_from_proto(request.category),
            frozenset(request.update_mask.paths),
        )
        return pb.UpdateCategoryResponse(category=codec_proto.category_to_proto(updated))

    async def DeleteCategory(
        self, request: pb.DeleteCategoryRequest, context: Ctx
    ) -> pb.DeleteCategoryResponse:
        await self._categories.delete_category(current_caller(), request.category_id)
        return pb.DeleteCategoryResponse()

    async def GetProductAnalytics(
        self, request: pb.GetProductAnalyticsRequest, context: Ctx
    ) -> pb.GetProductAnalyticsResponse:
        analytics = await self._products.get_analytics(current_caller(), request.product_id)
        return pb.GetProductAnalyticsResponse(analytics=codec_proto.analytics_to_proto(analytics))

    async def WatchInventory(
        self, request: pb.WatchInventoryRequest, context: Ctx
    ) -> AsyncIterator[pb.WatchInventoryResponse]:
        wanted = codec_proto.event_filter_from_proto(request)
        async for event in self._watches.watch(current_caller(), wanted):
            yield pb.WatchInventoryResponse(event=codec_proto.event_to_proto(event))
