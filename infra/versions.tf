terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # State in a GCS bucket named at init, never here:
  #   terraform -chdir=infra init -backend-config="bucket=BUCKET" -backend-config="prefix=event-recovery/ENV"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
