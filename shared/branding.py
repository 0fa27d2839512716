"""The monitoring company's branding, from configuration: what pages, mail and PDFs print about the company."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Config


@dataclass(frozen=True, slots=True)
class Branding:
    """alarmhub is white-label: every name, address and number a customer reads about the company comes from here."""

    company_name: str
    logo_text: str
    phone: str
    address: str
    # Where customers mail cheques; invoices print it (the postal address when none is configured).
    remittance_address: str
    # The company's licence as invoices and insurance certificates print it; empty prints nothing.
    licence_text: str
    # Where customers reach the portal, without a trailing slash; links in mail start with it.
    public_url: str

    @classmethod
    def from_config(cls, config: Config) -> Branding:
        address: str = config["portal.company_address"]
        return cls(
            company_name=config["portal.company_name"],
            logo_text=config["portal.logo_text"],
            phone=config["portal.company_phone"],
            address=address,
            remittance_address=config["portal.remittance_address"] or address,
            licence_text=config["portal.licence_text"],
            public_url=public_url(config),
        )


def public_url(config: Config) -> str:
    """Where customers reach the portal, without a trailing slash; empty configuration means http://HOST:PORT."""
    configured: str = config["portal.public_url"]
    return (configured or f"http://{config['portal.host']}:{config['portal.port']}").rstrip("/")
