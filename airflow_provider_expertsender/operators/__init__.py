"""Operators of the ExpertSender provider, one module per resource.

- :mod:`.customers`: ``ExpertSenderUpsertCustomersOperator``, ``ExpertSenderGetCustomerOperator``
- :mod:`.orders`: ``ExpertSenderRegisterOrdersOperator``, ``ExpertSenderGetOrderOperator``,
  ``ExpertSenderUpdateOrderStatusOperator``, ``ExpertSenderDeleteOrderOperator``
- :mod:`.events`: ``ExpertSenderSendCustomEventOperator``
- :mod:`.settings`: ``ExpertSenderListSettingsOperator``

Import them from their module. This package imports nothing itself, so DAG files pay only for what they use.
"""

from __future__ import annotations
