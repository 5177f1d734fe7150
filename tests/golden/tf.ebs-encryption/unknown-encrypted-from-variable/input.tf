resource "aws_instance" "web" {
  ami = "ami-123"
  root_block_device {
    encrypted = var.encrypt_root
  }
}
