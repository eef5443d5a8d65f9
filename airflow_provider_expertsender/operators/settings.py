"""Read the business unit's settings lists: customer attributes, consents, order and product attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import is_dynamic
from airflow_provider_expertsender.endpoints import normalize_setting
from airflow_provider_expertsender.operators._base import ExpertSenderBaseOperator

if TYPE_CHECKING:
    from airflow_provider_expertsender._compat import Context

__all__ = ["ExpertSenderListSettingsOperator", "normalize_setting"]


class ExpertSenderListSettingsOperator(ExpertSenderBaseOperator):
    """List one of the business unit's settings lists and return it.

    The XCom value is the list as the API returns it,
    ``[{"id": 1, "name": "Newsletter", "type": "Email"}, ...]`` (``[]`` when nothing is configured).
    Use it to check attribute names or consent ids before a bulk write.

    :param setting: ``"customer_attributes"``, ``"consents"``, ``"order_attributes"`` or
        ``"product_attributes"`` (templated).
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    template_fields: tuple[str, ...] = ("setting", "expertsender_conn_id")

    def __init__(self, *, setting: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.setting = setting
        if not is_dynamic(setting):
            normalize_setting(setting)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        setting = normalize_setting(self.setting)
        items = self.hook.list_settings(setting)
        self.log.info("Listed %d %s.", len(items), setting.replace("_", " "))
        return items
