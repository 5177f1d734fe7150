variable "monitoring" {
  default = false
}

resource "aws_instance" "web" {
  ami        = "ami-123"
  monitoring = var.monitoring
}
