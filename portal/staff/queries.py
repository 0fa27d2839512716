"""SQL of the staff pages: the directory sees every customer; a customer's record is read through its scope."""

from __future__ import annotations

import asyncpg

from shared.db import Connection
from shared.errors import NotFound
from shared.scope import CustomerScope

DIRECTORY_LIMIT = 100


async def find_customers(connection: Connection, search: str) -> list[asyncpg.Record]:
    """Customers whose name, e-mail, account number or address contains `search` (all when empty), newest first."""
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows: list[asyncpg.Record] = await connection.fetch(
        """SELECT c.id, c.name, c.email, c.phone,
                  coalesce(string_agg(DISTINCT p.account, ', '), '') AS accounts,
                  coalesce(string_agg(DISTINCT s.address, '; '), '') AS addresses
             FROM customers c
             LEFT JOIN sites s ON s.customer_id = c.id
             LEFT JOIN panels p ON p.site_id = s.id
            WHERE $1 = '%%' OR c.name ILIKE $1 OR c.email ILIKE $1 OR p.account ILIKE $1 OR s.address ILIKE $1
            GROUP BY c.id
            ORDER BY c.created_at DESC, c.id DESC
            LIMIT $2""",
        pattern,
        DIRECTORY_LIMIT,
    )
    return rows


async def customer(connection: Connection, scope: CustomerScope) -> asyncpg.Record:
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT id, name, email, phone, created_at, security_code <> '' AS has_security_code "
        "FROM customers WHERE id = $1",
        scope.customer_id,
    )
    if row is None:
        raise NotFound("there is no such customer")
    return row


async def sites_and_panels(connection: Connection, scope: CustomerScope) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await connection.fetch(
        """SELECT s.id AS site_id, s.name AS site_name, s.address, p.id AS panel_id, p.account,
                  p.dc09_key_format, extract(epoch FROM p.test_interval) / 3600 AS test_hours, p.created_at,
                  p.monitored_services
             FROM sites s LEFT JOIN panels p ON p.site_id = s.id
            WHERE s.customer_id = $1
            ORDER BY s.id, p.account""",
        scope.customer_id,
    )
    return rows


async def users_of(connection: Connection, scope: CustomerScope) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT email, name, role, password_hash IS NOT NULL AS active, email_confirmed_at FROM users "
        "WHERE customer_id = $1 ORDER BY role = 'owner' DESC, email",
        scope.customer_id,
    )
    return rows
