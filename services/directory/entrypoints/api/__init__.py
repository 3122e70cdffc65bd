"""The directory's HTTP API in the Open Referral (HSDS 3.0) manner, one router per resource."""
